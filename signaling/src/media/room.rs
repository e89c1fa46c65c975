//! One meeting's SFU: a task that owns the participants' connections, driven by commands from
//! the room and by what the connections report.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hongying_proto::signaling::{IceCandidate, MediaKind};
use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::Slot;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::RTCOfferOptions;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RTCRtpHeaderExtensionCapability, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use tokio::sync::{mpsc, oneshot};
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceCandidateInit, RTCPeerConnectionIceEvent,
    RTCPeerConnectionState, RTCSessionDescription, Registry, SettingEngineBuilder,
    register_default_interceptors,
};
use webrtc::rtp_transceiver::{RtpSender, RtpTransceiver};

use super::forward::{self, Counters, FanoutList, Link, SubscriberQueue};
use super::observer::{KeyframeRequest, Observer, PeerShared};
use super::quality::{LinkController, LinkPolicy, LinkSample, Switch};
use super::speaker::SpeakerDetector;
use super::{
    AudioOnlyReason, LostReason, MediaConfig, MediaError, MediaEvent, ParticipantOptions,
    RemoteCandidates, VideoSelection, sdp,
};

// The server's own numbering (Chrome's), used only where it offers first; what it sends each
// receiver is what that receiver negotiated.
pub(crate) const PT_OPUS: u8 = 111;
pub(crate) const PT_VP8: u8 = 96;
pub(crate) const AUDIO_LEVEL_URI: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
const MAX_SDP: usize = 128 * 1024;
const MAX_CANDIDATE: usize = 1024;
const TICK: Duration = Duration::from_millis(250);
/// How often unanswered keyframe requests are looked at.
const KEYFRAME_TICK: Duration = Duration::from_millis(100);
/// An unanswered keyframe request is sent again at most this many times without a new ask
/// (a publisher that never sends VP8 keyframes must not be asked forever).
const KEYFRAME_RETRIES: u8 = 5;

/// Packet counts of a room.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaStats {
    pub participants: usize,
    pub published_tracks: usize,
    /// RTP packets received from publishers.
    pub received: u64,
    /// RTP packets handed to subscribers' connections.
    pub forwarded: u64,
    /// Copies dropped because a subscriber's queue was full.
    pub dropped: u64,
    /// Packets a subscriber's connection refused (counted; logged once per connection).
    pub write_errors: u64,
    /// Keyframe requests (PLI) sent to publishers, retries included.
    pub keyframe_requests: u64,
}

type Reply<T> = oneshot::Sender<Result<T, MediaError>>;

enum Cmd {
    Add(String, ParticipantOptions, Reply<()>),
    Remove(String, oneshot::Sender<()>),
    Offer(String, String, Reply<String>),
    Answer(String, String, Reply<()>),
    Candidate(String, IceCandidate, Reply<()>),
    RestartIce(String, Reply<()>),
    Mute(String, MediaKind, bool, Reply<()>),
    Select(String, VideoSelection, Reply<()>),
    AudioOnly(String, bool, Reply<()>),
    Stats(oneshot::Sender<MediaStats>),
    Close(oneshot::Sender<()>),
}

enum Internal {
    Track(String, u64, Arc<dyn TrackRemote>),
    State(String, u64, RTCPeerConnectionState),
    /// A published track ended (the publisher stopped sending it, or left).
    TrackEnded(u64),
}

/// How the room talks to its SFU. Cheap to clone.
#[derive(Clone)]
pub struct MediaRoom {
    tx: mpsc::UnboundedSender<Cmd>,
}

impl MediaRoom {
    /// Starts a room's SFU on the current tokio runtime; events arrive on the receiver.
    pub fn start(config: Arc<MediaConfig>) -> (MediaRoom, mpsc::UnboundedReceiver<MediaEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (events, events_rx) = mpsc::unbounded_channel();
        let (internal_tx, internal_rx) = mpsc::unbounded_channel();
        let (kf_tx, kf_rx) = mpsc::unbounded_channel();
        let sfu = Sfu {
            config,
            events,
            internal_tx,
            kf_tx,
            peers: HashMap::new(),
            order: Vec::new(),
            published: HashMap::new(),
            next_key: 0,
            next_gen: 0,
            counters: Arc::new(Counters::default()),
            keyframes_sent: 0,
            speaker: SpeakerDetector::default(),
            recent_speakers: Vec::new(),
            base: Instant::now(),
            last_quality: Instant::now(),
            ports: PortCursor::default(),
        };
        tokio::spawn(sfu.run(rx, internal_rx, kf_rx));
        (MediaRoom { tx }, events_rx)
    }

    /// Starts a room's SFU on the given runtime: its connections, drivers and packet tasks all
    /// run there. Give media its own multi-threaded runtime rather than an HTTP worker's.
    pub fn start_on(
        runtime: &tokio::runtime::Handle,
        config: Arc<MediaConfig>,
    ) -> (MediaRoom, mpsc::UnboundedReceiver<MediaEvent>) {
        let _entered = runtime.enter();
        Self::start(config)
    }

    async fn call<T>(&self, f: impl FnOnce(Reply<T>) -> Cmd) -> Result<T, MediaError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(f(tx)).map_err(|_| MediaError::Closed)?;
        rx.await.unwrap_or(Err(MediaError::Closed))
    }

    /// Adds (or replaces) a participant: binds his connection's socket. A publisher then
    /// sends his offer; a receive-only participant gets an [`MediaEvent::Offer`].
    pub async fn add_participant(
        &self,
        id: &str,
        options: ParticipantOptions,
    ) -> Result<(), MediaError> {
        let id = id.to_string();
        self.call(|r| Cmd::Add(id, options, r)).await
    }

    /// Closes his connection; the others stop receiving his tracks (and are re-offered).
    pub async fn remove_participant(&self, id: &str) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Cmd::Remove(id.to_string(), tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// Applies his offer (first, renegotiation or ICE restart); the answer SDP.
    pub async fn apply_offer(&self, id: &str, sdp: String) -> Result<String, MediaError> {
        let id = id.to_string();
        self.call(|r| Cmd::Offer(id, sdp, r)).await
    }

    /// Applies his answer to the last server offer.
    pub async fn apply_answer(&self, id: &str, sdp: String) -> Result<(), MediaError> {
        let id = id.to_string();
        self.call(|r| Cmd::Answer(id, sdp, r)).await
    }

    /// A trickled candidate of his (an empty `candidate` ends his gathering).
    pub async fn add_candidate(&self, id: &str, c: IceCandidate) -> Result<(), MediaError> {
        let id = id.to_string();
        self.call(|r| Cmd::Candidate(id, c, r)).await
    }

    /// Server-initiated ICE restart: an [`MediaEvent::Offer`] with new credentials follows.
    pub async fn restart_ice(&self, id: &str) -> Result<(), MediaError> {
        let id = id.to_string();
        self.call(|r| Cmd::RestartIce(id, r)).await
    }

    /// Mutes (host or self) his published audio or video: the server stops forwarding it.
    /// While his audio is muted his RTCP alone proves his presence.
    pub async fn set_muted(
        &self,
        id: &str,
        kind: MediaKind,
        muted: bool,
    ) -> Result<(), MediaError> {
        let id = id.to_string();
        self.call(|r| Cmd::Mute(id, kind, muted, r)).await
    }

    /// Which videos he receives.
    pub async fn select_videos(&self, id: &str, sel: VideoSelection) -> Result<(), MediaError> {
        let id = id.to_string();
        self.call(|r| Cmd::Select(id, sel, r)).await
    }

    /// He asks for audio only (or for video again).
    pub async fn set_audio_only(&self, id: &str, on: bool) -> Result<(), MediaError> {
        let id = id.to_string();
        self.call(|r| Cmd::AudioOnly(id, on, r)).await
    }

    pub async fn stats(&self) -> MediaStats {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Cmd::Stats(tx)).is_err() {
            return MediaStats::default();
        }
        rx.await.unwrap_or_default()
    }

    /// Closes every connection; the task ends.
    pub async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Cmd::Close(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

struct Handler {
    pid: String,
    generation: u64,
    internal: mpsc::UnboundedSender<Internal>,
    events: mpsc::UnboundedSender<MediaEvent>,
    /// (bound address, advertised address) for 1:1 NAT.
    nat: Option<(Vec<IpAddr>, IpAddr)>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        let Ok(init) = event.candidate.to_json() else {
            return;
        };
        if init.candidate.is_empty() {
            return;
        }
        let mut candidate = init.candidate;
        if let Some((bound, public)) = &self.nat {
            for b in bound {
                candidate = sdp::rewrite_candidate(&candidate, *b, *public);
            }
        }
        let _ = self.events.send(MediaEvent::LocalCandidate {
            participant: self.pid.clone(),
            candidate: IceCandidate {
                candidate,
                sdp_mid: init.sdp_mid,
                sdp_mline_index: init.sdp_mline_index,
            },
        });
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self
            .internal
            .send(Internal::State(self.pid.clone(), self.generation, state));
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self
            .internal
            .send(Internal::Track(self.pid.clone(), self.generation, track));
    }
}

struct Published {
    publisher: String,
    kind: MediaKind,
    remote: Arc<dyn TrackRemote>,
    ssrc: u32,
    list: Arc<FanoutList>,
    /// The PLI sent and not yet answered by a keyframe: asks meanwhile are coalesced into it.
    keyframe_pending: Option<PendingKeyframe>,
}

#[derive(Clone, Copy)]
struct PendingKeyframe {
    sent: Instant,
    retries: u8,
}

struct Subscription {
    link: Arc<Link>,
    sender: Arc<dyn RtpSender>,
    transceiver: Arc<dyn RtpTransceiver>,
    /// In the server offer awaiting his answer.
    in_offer: bool,
    /// His answer covered it: the link knows his payload type.
    negotiated: bool,
}

struct Peer {
    generation: u64,
    options: ParticipantOptions,
    pc: Arc<dyn PeerConnection>,
    shared: Arc<PeerShared>,
    queue: Arc<SubscriberQueue>,
    /// His first offer was applied (publishers) or he answered the first server offer.
    negotiated: bool,
    offer_pending: bool,
    needs_offer: bool,
    restart_ice: bool,
    /// The pending server offer restarts ICE (made again if it is withdrawn).
    offer_restarts_ice: bool,
    connected: bool,
    proven: bool,
    audio_muted: bool,
    video_muted: bool,
    /// Asked for audio only (or joined so).
    requested_audio_only: bool,
    weak: LinkController,
    weak_on: bool,
    selection: VideoSelection,
    /// Published track key → his subscription to it.
    subs: HashMap<u64, Subscription>,
    last_sent: u64,
    /// His candidates that came before his first description (applied after it).
    early_candidates: Option<Vec<RTCIceCandidateInit>>,
    /// His id of the audio-level extension in what he publishes (from his offer).
    audio_level_in: Option<u8>,
    /// He was told he has no common codec of this kind (once per connection).
    told_no_codec: [bool; 2],
    /// The DTLS fingerprint of his peer connection (from his descriptions).
    remote_fingerprint: Option<String>,
}

impl Peer {
    fn audio_only(&self) -> bool {
        self.requested_audio_only || self.weak_on
    }
}

#[derive(Default)]
pub(crate) struct PortCursor {
    next: Option<u16>,
}

impl PortCursor {
    /// A port of the range free on every address (checked by binding; the driver binds it
    /// again right after, so a race only costs a retry).
    pub(crate) fn pick(&mut self, range: (u16, u16), addrs: &[IpAddr]) -> Option<u16> {
        let (lo, hi) = range;
        let span = u32::from(hi - lo) + 1;
        let start = self.next.unwrap_or(lo).clamp(lo, hi);
        for i in 0..span {
            let p = lo + u16::try_from((u32::from(start - lo) + i) % span).ok()?;
            if addrs
                .iter()
                .all(|ip| UdpSocket::bind(SocketAddr::new(*ip, p)).is_ok())
            {
                self.next = Some(if p == hi { lo } else { p + 1 });
                return Some(p);
            }
        }
        None
    }
}

struct Sfu {
    config: Arc<MediaConfig>,
    events: mpsc::UnboundedSender<MediaEvent>,
    internal_tx: mpsc::UnboundedSender<Internal>,
    kf_tx: mpsc::UnboundedSender<(String, KeyframeRequest)>,
    peers: HashMap<String, Peer>,
    order: Vec<String>,
    published: HashMap<u64, Published>,
    next_key: u64,
    next_gen: u64,
    counters: Arc<Counters>,
    keyframes_sent: u64,
    speaker: SpeakerDetector,
    /// Most recent speaker first.
    recent_speakers: Vec<String>,
    base: Instant,
    last_quality: Instant,
    ports: PortCursor,
}

fn failed(e: impl std::fmt::Display) -> MediaError {
    MediaError::Failed(e.to_string())
}

pub(crate) fn codec(kind: MediaKind) -> RTCRtpCodecParameters {
    match kind {
        MediaKind::Audio => RTCRtpCodecParameters {
            rtp_codec: RTCRtpCodec {
                mime_type: "audio/opus".into(),
                clock_rate: 48_000,
                channels: 2,
                sdp_fmtp_line: "minptime=10;useinbandfec=1".into(),
                rtcp_feedback: vec![],
            },
            payload_type: PT_OPUS,
        },
        MediaKind::Video => RTCRtpCodecParameters {
            rtp_codec: RTCRtpCodec {
                mime_type: "video/VP8".into(),
                clock_rate: 90_000,
                channels: 0,
                sdp_fmtp_line: String::new(),
                rtcp_feedback: vec![],
            },
            payload_type: PT_VP8,
        },
    }
}

fn rtp_kind(kind: MediaKind) -> RtpCodecKind {
    match kind {
        MediaKind::Audio => RtpCodecKind::Audio,
        MediaKind::Video => RtpCodecKind::Video,
    }
}

/// The media engine and interceptor chain of the server's connections.
pub(crate) fn media_engine() -> Result<(MediaEngine, Registry), MediaError> {
    media_engine_from(
        &[codec(MediaKind::Audio), codec(MediaKind::Video)],
        &[AUDIO_LEVEL_URI],
    )
}

/// An engine with these codecs and audio header extensions (ids follow their order), and the
/// crate's default interceptors.
pub(crate) fn media_engine_from(
    codecs: &[RTCRtpCodecParameters],
    audio_extensions: &[&str],
) -> Result<(MediaEngine, Registry), MediaError> {
    let mut me = MediaEngine::default();
    for c in codecs {
        let kind = if c.rtp_codec.mime_type.starts_with("audio/") {
            RtpCodecKind::Audio
        } else {
            RtpCodecKind::Video
        };
        me.register_codec(c.clone(), kind).map_err(failed)?;
    }
    for uri in audio_extensions {
        me.register_header_extension(
            RTCRtpHeaderExtensionCapability { uri: (*uri).into() },
            RtpCodecKind::Audio,
            None,
        )
        .map_err(failed)?;
    }
    let registry = register_default_interceptors(Registry::new(), &mut me).map_err(failed)?;
    Ok((me, registry))
}

impl Sfu {
    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Cmd>,
        mut internal: mpsc::UnboundedReceiver<Internal>,
        mut keyframes: mpsc::UnboundedReceiver<(String, KeyframeRequest)>,
    ) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut keyframe_tick = tokio::time::interval(KEYFRAME_TICK);
        keyframe_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(Cmd::Close(done)) => {
                        self.close_all().await;
                        let _ = done.send(());
                        return;
                    }
                    Some(cmd) => self.command(cmd).await,
                    None => {
                        self.close_all().await;
                        return;
                    }
                },
                Some(ev) = internal.recv() => self.internal(ev).await,
                Some((pid, kf)) = keyframes.recv() => self.keyframe_request(&pid, kf.media_ssrc),
                _ = tick.tick() => self.tick().await,
                _ = keyframe_tick.tick() => self.retry_keyframes(),
            }
        }
    }

    async fn close_all(&mut self) {
        for (_, p) in self.peers.drain() {
            let _ = p.pc.close().await;
        }
        self.published.clear();
    }

    async fn command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Add(id, options, reply) => {
                let r = self.add(&id, options).await;
                let _ = reply.send(r);
                self.after_change().await;
            }
            Cmd::Remove(id, done) => {
                self.remove(&id).await;
                let _ = done.send(());
                self.after_change().await;
            }
            Cmd::Offer(id, sdp, reply) => {
                let r = self.offer(&id, sdp).await;
                let _ = reply.send(r);
                self.after_change().await;
            }
            Cmd::Answer(id, sdp, reply) => {
                let r = self.answer(&id, sdp).await;
                let _ = reply.send(r);
                self.after_change().await;
            }
            Cmd::Candidate(id, c, reply) => {
                let r = self.candidate(&id, c).await;
                let _ = reply.send(r);
            }
            Cmd::RestartIce(id, reply) => {
                let r = match self.peers.get_mut(&id) {
                    Some(p) => {
                        p.restart_ice = true;
                        p.needs_offer = true;
                        Ok(())
                    }
                    None => Err(MediaError::UnknownParticipant),
                };
                let _ = reply.send(r);
                self.after_change().await;
            }
            Cmd::Mute(id, kind, muted, reply) => {
                let r = match self.peers.get_mut(&id) {
                    Some(p) => {
                        match kind {
                            MediaKind::Audio => p.audio_muted = muted,
                            MediaKind::Video => p.video_muted = muted,
                        }
                        Ok(())
                    }
                    None => Err(MediaError::UnknownParticipant),
                };
                let _ = reply.send(r);
                self.refresh_gates();
            }
            Cmd::Select(id, sel, reply) => {
                let r = match self.peers.get_mut(&id) {
                    Some(p) => {
                        p.selection = sel;
                        Ok(())
                    }
                    None => Err(MediaError::UnknownParticipant),
                };
                let _ = reply.send(r);
                self.refresh_gates();
            }
            Cmd::AudioOnly(id, on, reply) => {
                let r = match self.peers.get_mut(&id) {
                    Some(p) => {
                        let was = p.audio_only();
                        p.requested_audio_only = on;
                        if was != p.audio_only() {
                            let _ = self.events.send(MediaEvent::AudioOnly {
                                participant: id.clone(),
                                on,
                                reason: AudioOnlyReason::Requested,
                            });
                        }
                        Ok(())
                    }
                    None => Err(MediaError::UnknownParticipant),
                };
                let _ = reply.send(r);
                self.after_change().await;
            }
            Cmd::Stats(reply) => {
                let _ = reply.send(MediaStats {
                    participants: self.peers.len(),
                    published_tracks: self.published.len(),
                    received: self.counters.received.load(Ordering::Relaxed),
                    forwarded: self.counters.forwarded.load(Ordering::Relaxed),
                    dropped: self.counters.dropped.load(Ordering::Relaxed),
                    write_errors: self.counters.write_errors.load(Ordering::Relaxed),
                    keyframe_requests: self.keyframes_sent,
                });
            }
            Cmd::Close(_) => {}
        }
    }

    async fn build_pc(
        &mut self,
        id: &str,
        generation: u64,
        shared: Arc<PeerShared>,
    ) -> Result<Arc<dyn PeerConnection>, MediaError> {
        let c = &self.config;
        let mut last_err = MediaError::Failed("no port".into());
        for _ in 0..3 {
            let port = match c.udp_port_range {
                Some(range) => match self.ports.pick(range, &c.ice_addresses) {
                    Some(p) => p,
                    None => return Err(MediaError::Failed("UDP port range exhausted".into())),
                },
                None => 0,
            };
            let addrs: Vec<SocketAddr> = c
                .ice_addresses
                .iter()
                .map(|ip| SocketAddr::new(*ip, port))
                .collect();
            let (me, registry) = media_engine()?;
            let registry = registry.with(
                Slot::from(14_000),
                Observer::new(id.to_string(), shared.clone(), self.kf_tx.clone()),
            );
            let se = SettingEngineBuilder::new()
                .with_multicast_dns_mode(MulticastDnsMode::Disabled)
                .with_ice_timeouts(
                    Some(c.ice_disconnected_timeout),
                    Some(c.ice_failed_timeout),
                    None,
                )
                .build();
            let handler = Arc::new(Handler {
                pid: id.to_string(),
                generation,
                internal: self.internal_tx.clone(),
                events: self.events.clone(),
                nat: c.public_ip.map(|ip| (c.ice_addresses.clone(), ip)),
            });
            let built = PeerConnectionBuilder::new()
                .with_configuration(RTCConfigurationBuilder::new().build())
                .with_media_engine(me)
                .with_setting_engine(se)
                .with_interceptor_registry(registry)
                .with_handler(handler)
                .with_udp_addrs(addrs)
                .build()
                .await;
            match built {
                Ok(pc) => return Ok(Arc::new(pc)),
                Err(e) => last_err = failed(e),
            }
            if c.udp_port_range.is_none() {
                break;
            }
        }
        Err(last_err)
    }

    async fn add(&mut self, id: &str, options: ParticipantOptions) -> Result<(), MediaError> {
        if self.peers.contains_key(id) {
            self.remove(id).await;
        }
        self.next_gen += 1;
        let generation = self.next_gen;
        let shared = Arc::new(PeerShared::new(self.base));
        let pc = self.build_pc(id, generation, shared.clone()).await?;
        let peer = Peer {
            generation,
            options,
            pc,
            shared,
            queue: forward::subscriber_queue(
                id.to_string(),
                self.counters.clone(),
                self.kf_tx.clone(),
            ),
            negotiated: false,
            offer_pending: false,
            // A receive-only participant is offered first.
            needs_offer: !options.publish,
            restart_ice: false,
            offer_restarts_ice: false,
            connected: false,
            proven: false,
            audio_muted: false,
            video_muted: false,
            requested_audio_only: options.audio_only,
            weak: LinkController::new(LinkPolicy {
                threshold_bps: self.config.audio_only_threshold_bps as f64,
                max_loss: self.config.audio_only_loss,
                probe_after: self.config.audio_only_probe,
            }),
            weak_on: false,
            selection: VideoSelection::All,
            subs: HashMap::new(),
            last_sent: 0,
            early_candidates: Some(Vec::new()),
            audio_level_in: None,
            told_no_codec: [false; 2],
            remote_fingerprint: None,
        };
        self.peers.insert(id.to_string(), peer);
        self.order.push(id.to_string());
        Ok(())
    }

    async fn remove(&mut self, id: &str) {
        let Some(peer) = self.peers.remove(id) else {
            return;
        };
        self.order.retain(|p| p != id);
        peer.queue.set_ready(false);
        let _ = peer.pc.close().await;
        // His subscriptions leave the fan-out lists.
        for key in peer.subs.keys() {
            if let Some(p) = self.published.get(key) {
                p.list.remove_subscriber(id);
            }
        }
        // His tracks leave everyone else's connection.
        let keys: Vec<u64> = self
            .published
            .iter()
            .filter(|(_, p)| p.publisher == id)
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            self.unpublish(key).await;
        }
        self.speaker.forget(id);
        self.recent_speakers.retain(|p| p != id);
    }

    /// A published track goes: its subscribers' senders are removed (renegotiated).
    async fn unpublish(&mut self, key: u64) {
        self.published.remove(&key);
        for p in self.peers.values_mut() {
            if let Some(sub) = p.subs.remove(&key) {
                sub.link.active.store(false, Ordering::Release);
                let _ = p.pc.remove_track(&sub.sender).await;
                p.needs_offer = true;
            }
        }
    }

    fn keep_candidate(&self, ip: IpAddr) -> bool {
        match self.config.remote_candidates {
            RemoteCandidates::Any => true,
            RemoteCandidates::LoopbackOnly => ip.is_loopback(),
        }
    }

    fn outgoing_sdp(&self, sdp: String) -> String {
        match self.config.public_ip {
            Some(public) => self
                .config
                .ice_addresses
                .iter()
                .fold(sdp, |s, b| sdp::rewrite_candidates(&s, *b, public)),
            None => sdp,
        }
    }

    async fn offer(&mut self, id: &str, text: String) -> Result<String, MediaError> {
        if !self.peers.contains_key(id) {
            return Err(MediaError::UnknownParticipant);
        }
        if text.len() > MAX_SDP {
            return Err(MediaError::BadSdp("too long".into()));
        }
        let text = sdp::filter_candidates(&text, |ip| self.keep_candidate(ip));
        let still_sent = sdp::sending_ssrcs(&text);
        let offer_text = text.clone();
        let audio_level_in = sdp::extmap_id(&text, "audio", AUDIO_LEVEL_URI);
        let desc =
            RTCSessionDescription::offer(text).map_err(|e| MediaError::BadSdp(e.to_string()))?;
        // Another DTLS certificate: a new peer connection on his side (the app restarted and
        // resumed). The old connection cannot carry it; he gets a fresh one, keeping his
        // options and his place, and his tracks are published anew from it.
        let fingerprint = sdp::fingerprint(&offer_text);
        let replaced = self.peers.get(id).is_some_and(|p| {
            p.negotiated && p.remote_fingerprint.is_some() && p.remote_fingerprint != fingerprint
        });
        if replaced && let Some(old) = self.peers.get(id) {
            let (options, muted, selection, audio_only, proven) = (
                old.options,
                (old.audio_muted, old.video_muted),
                old.selection.clone(),
                old.requested_audio_only,
                old.proven,
            );
            tracing::info!(
                participant = id,
                "media: a new peer connection replaces his old one"
            );
            self.add(id, options).await?;
            if let Some(p) = self.peers.get_mut(id) {
                // Host mutes and his choices stay; so does his presence, which the new
                // connection must keep up within the no-media timeout like any other.
                (p.audio_muted, p.video_muted) = muted;
                p.selection = selection;
                p.requested_audio_only = audio_only;
                if proven {
                    p.proven = true;
                    p.shared.heard(Instant::now());
                }
            }
            self.subscribe_missing().await;
        }
        let Some(peer) = self.peers.get_mut(id) else {
            return Err(MediaError::UnknownParticipant);
        };
        if peer.offer_pending {
            // Glare: the server is polite. Its offer is withdrawn and made again later.
            let rollback = RTCSessionDescription::rollback(None).map_err(failed)?;
            peer.pc
                .set_local_description(rollback)
                .await
                .map_err(failed)?;
            peer.offer_pending = false;
            peer.needs_offer = true;
            peer.restart_ice |= peer.offer_restarts_ice;
            for sub in peer.subs.values_mut() {
                sub.in_offer = false;
            }
        }
        peer.pc
            .set_remote_description(desc)
            .await
            .map_err(|e| MediaError::BadSdp(e.to_string()))?;
        flush_early_candidates(peer).await;
        let answer = match peer.pc.create_answer(None).await {
            Ok(a) => a,
            Err(e) => {
                // Back to stable so the connection stays usable.
                if let Ok(rb) = RTCSessionDescription::rollback(None) {
                    let _ = peer.pc.set_remote_description(rb).await;
                }
                return Err(MediaError::BadSdp(e.to_string()));
            }
        };
        peer.pc
            .set_local_description(answer.clone())
            .await
            .map_err(failed)?;
        // His tracks to receive (added from now on) come in the next server offer.
        peer.negotiated = true;
        peer.remote_fingerprint = fingerprint;
        peer.audio_level_in = audio_level_in;
        for p in self.published.values() {
            if p.publisher == id {
                p.list.set_audio_level_in(audio_level_in);
            }
        }
        // His offer may renumber what he receives on the m-lines already negotiated.
        self.sync_links(id, &offer_text, |s| s.negotiated).await;
        // Tracks he no longer sends (camera off, screen share ended) are unpublished.
        let gone: Vec<u64> = self
            .published
            .iter()
            .filter(|(_, p)| {
                p.publisher == id
                    && p.ssrc != 0
                    && still_sent.as_ref().is_some_and(|s| !s.contains(&p.ssrc))
            })
            .map(|(k, _)| *k)
            .collect();
        for key in gone {
            self.unpublish(key).await;
        }
        Ok(self.outgoing_sdp(answer.sdp))
    }

    async fn answer(&mut self, id: &str, text: String) -> Result<(), MediaError> {
        match self.peers.get(id) {
            None => return Err(MediaError::UnknownParticipant),
            Some(p) if !p.offer_pending => return Err(MediaError::UnexpectedAnswer),
            Some(_) => {}
        }
        if text.len() > MAX_SDP {
            return Err(MediaError::BadSdp("too long".into()));
        }
        let text = sdp::filter_candidates(&text, |ip| self.keep_candidate(ip));
        let answer_text = text.clone();
        let desc =
            RTCSessionDescription::answer(text).map_err(|e| MediaError::BadSdp(e.to_string()))?;
        let Some(peer) = self.peers.get_mut(id) else {
            return Err(MediaError::UnknownParticipant);
        };
        peer.pc
            .set_remote_description(desc)
            .await
            .map_err(|e| MediaError::BadSdp(e.to_string()))?;
        peer.offer_pending = false;
        peer.negotiated = true;
        peer.remote_fingerprint = sdp::fingerprint(&answer_text);
        flush_early_candidates(peer).await;
        for sub in peer.subs.values_mut() {
            if std::mem::take(&mut sub.in_offer) {
                sub.negotiated = true;
            }
        }
        self.sync_links(id, &answer_text, |s| s.negotiated).await;
        Ok(())
    }

    /// Gives the chosen links of `id` the payload type and extension ids his description
    /// `remote` negotiated; tells him once per kind when there is no common codec. The crate
    /// keeps the codecs it offered on a section the answer rejected (port 0), so the
    /// description itself says whether he accepted it.
    async fn sync_links(&mut self, id: &str, remote: &str, which: impl Fn(&Subscription) -> bool) {
        let Some(peer) = self.peers.get_mut(id) else {
            return;
        };
        let mut refused = Vec::new();
        for sub in peer.subs.values().filter(|s| which(s)) {
            let params = match sub.sender.get_parameters().await {
                Ok(p) => p.rtp_parameters,
                Err(e) => {
                    tracing::debug!(participant = id, error = %e, "media: no sender parameters");
                    continue;
                }
            };
            let want = codec(sub.link.kind).rtp_codec.mime_type;
            let Ok(Some(mid)) = sub.transceiver.mid().await else {
                continue;
            };
            let Some(section) = sdp::media_section(remote, &mid) else {
                // Not in this description: what was negotiated before stands.
                continue;
            };
            let encoding = want.split('/').nth(1).unwrap_or_default();
            let pt = if section.open && section.has_encoding(encoding) {
                params
                    .codecs
                    .iter()
                    .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(&want))
                    .map(|c| c.payload_type)
            } else {
                None
            };
            let level = params
                .header_extensions
                .iter()
                .find(|e| e.uri == AUDIO_LEVEL_URI)
                .and_then(|e| u8::try_from(e.id).ok());
            sub.link.set_negotiated(pt, level);
            if pt.is_none() {
                refused.push(sub.link.kind);
            }
        }
        for kind in refused {
            self.no_common_codec(id, kind);
        }
    }

    fn no_common_codec(&mut self, id: &str, kind: MediaKind) {
        let Some(peer) = self.peers.get_mut(id) else {
            return;
        };
        let (i, what) = match kind {
            MediaKind::Audio => (0, "音频"),
            MediaKind::Video => (1, "视频"),
        };
        if std::mem::replace(&mut peer.told_no_codec[i], true) {
            return;
        }
        tracing::info!(participant = id, kind = what, "media: no common codec");
        let _ = self.events.send(MediaEvent::Error {
            participant: id.to_string(),
            error: MediaError::NoCommonCodec(what.into()),
        });
    }

    async fn candidate(&mut self, id: &str, c: IceCandidate) -> Result<(), MediaError> {
        if c.candidate.len() > MAX_CANDIDATE {
            return Err(MediaError::BadCandidate("too long".into()));
        }
        if !self.peers.contains_key(id) {
            return Err(MediaError::UnknownParticipant);
        }
        if c.candidate.trim().is_empty() {
            return Ok(());
        }
        if let Some((ip, _)) = sdp::candidate_addr(&c.candidate)
            && !self.keep_candidate(ip)
        {
            return Ok(());
        }
        if self.config.remote_candidates == RemoteCandidates::LoopbackOnly
            && sdp::candidate_addr(&c.candidate).is_none()
        {
            return Err(MediaError::BadCandidate("not a loopback address".into()));
        }
        let init = RTCIceCandidateInit {
            candidate: c.candidate,
            sdp_mid: c.sdp_mid,
            sdp_mline_index: c.sdp_mline_index,
            ..Default::default()
        };
        let Some(peer) = self.peers.get_mut(id) else {
            return Err(MediaError::UnknownParticipant);
        };
        if let Some(early) = &mut peer.early_candidates {
            // No description of his yet: checked now, applied with it.
            if sdp::candidate_addr(&init.candidate).is_none() {
                return Err(MediaError::BadCandidate("unreadable candidate".into()));
            }
            if early.len() < 64 {
                early.push(init);
            }
            return Ok(());
        }
        peer.pc
            .add_ice_candidate(init)
            .await
            .map_err(|e| MediaError::BadCandidate(e.to_string()))
    }

    /// After anything that may change who receives what: create missing subscriptions,
    /// recompute the gates, send the offers that are due.
    async fn after_change(&mut self) {
        self.subscribe_missing().await;
        self.refresh_gates();
        let ids: Vec<String> = self.order.clone();
        for id in ids {
            self.maybe_offer(&id).await;
        }
    }

    async fn subscribe_missing(&mut self) {
        let keys: Vec<u64> = self.published.keys().copied().collect();
        let ids: Vec<String> = self.order.clone();
        for id in ids {
            for key in &keys {
                self.subscribe(&id, *key).await;
            }
        }
    }

    async fn subscribe(&mut self, id: &str, key: u64) {
        let Some(p) = self.published.get(&key) else {
            return;
        };
        let (kind, publisher, list) = (p.kind, p.publisher.clone(), p.list.clone());
        let vp8 = kind == MediaKind::Video;
        let Some(peer) = self.peers.get_mut(id) else {
            return;
        };
        if publisher == id
            || !peer.options.subscribe
            || peer.subs.contains_key(&key)
            // A publisher's first offer decides his m-lines; ours come after it.
            || (peer.options.publish && !peer.negotiated)
            || (kind == MediaKind::Video && peer.requested_audio_only)
        {
            return;
        }
        let ssrc = rand_ssrc();
        let kind_str = match kind {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
        };
        let codec = codec(kind);
        let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            publisher.clone(),
            format!("{publisher}-{kind_str}-{key}"),
            format!("{publisher}-{kind_str}"),
            rtp_kind(kind),
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec: codec.rtp_codec.clone(),
                ..Default::default()
            }],
        )));
        let added = peer
            .pc
            .add_transceiver_from_track(
                Arc::clone(&track) as Arc<dyn TrackLocal>,
                Some(RTCRtpTransceiverInit {
                    direction: RTCRtpTransceiverDirection::Sendonly,
                    streams: vec![publisher.clone()],
                    send_encodings: vec![],
                }),
            )
            .await;
        let (transceiver, sender) = match added {
            Ok(t) => match t.sender().await {
                Ok(Some(s)) => (t, s),
                _ => return,
            },
            Err(e) => {
                // His first description had no such codec: the engine has none to send with.
                let no_codec = matches!(e, webrtc::error::Error::ErrRTPTransceiverCodecUnsupported);
                if no_codec {
                    self.no_common_codec(id, kind);
                } else {
                    tracing::warn!(participant = id, error = %e, "media: cannot add a track");
                }
                return;
            }
        };
        let link = Arc::new(Link::new(
            id.to_string(),
            kind,
            track,
            ssrc,
            vp8,
            peer.queue.clone(),
        ));
        list.add(link.clone());
        peer.subs.insert(
            key,
            Subscription {
                link,
                sender,
                transceiver,
                in_offer: false,
                negotiated: false,
            },
        );
        peer.needs_offer = true;
    }

    async fn maybe_offer(&mut self, id: &str) {
        let Some(peer) = self.peers.get_mut(id) else {
            return;
        };
        if !peer.needs_offer
            || peer.offer_pending
            || (peer.options.publish && !peer.negotiated)
            // Nothing to offer a receive-only participant yet.
            || (!peer.negotiated && peer.subs.is_empty())
        {
            return;
        }
        let options = peer
            .restart_ice
            .then_some(RTCOfferOptions { ice_restart: true });
        let offer = match peer.pc.create_offer(options).await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(participant = id, error = %e, "media: cannot create an offer");
                return;
            }
        };
        if let Err(e) = peer.pc.set_local_description(offer.clone()).await {
            tracing::warn!(participant = id, error = %e, "media: cannot set the offer");
            return;
        }
        peer.needs_offer = false;
        for sub in peer.subs.values_mut() {
            if !sub.negotiated {
                sub.in_offer = true;
            }
        }
        peer.offer_restarts_ice = peer.restart_ice;
        peer.restart_ice = false;
        peer.offer_pending = true;
        let sdp = self.outgoing_sdp(offer.sdp);
        let _ = self.events.send(MediaEvent::Offer {
            participant: id.to_string(),
            sdp,
        });
    }

    /// Who `id` should see video from, among the video publishers.
    fn selected_videos(&self, id: &str) -> HashSet<String> {
        let Some(peer) = self.peers.get(id) else {
            return HashSet::new();
        };
        match &peer.selection {
            VideoSelection::All => self.order.iter().cloned().collect(),
            VideoSelection::Only(list) => list.iter().cloned().collect(),
            VideoSelection::Speakers(n) => {
                let video_publishers: Vec<&String> = self
                    .order
                    .iter()
                    .filter(|p| {
                        *p != id
                            && self
                                .published
                                .values()
                                .any(|t| &t.publisher == *p && t.kind == MediaKind::Video)
                    })
                    .collect();
                let mut chosen: Vec<String> = self
                    .recent_speakers
                    .iter()
                    .filter(|p| video_publishers.contains(p))
                    .take(*n)
                    .cloned()
                    .collect();
                for p in video_publishers {
                    if chosen.len() >= *n {
                        break;
                    }
                    if !chosen.contains(p) {
                        chosen.push(p.clone());
                    }
                }
                chosen.into_iter().collect()
            }
        }
    }

    /// Recomputes every link's gate; links that came on get a keyframe from their publisher.
    fn refresh_gates(&mut self) {
        let mut want_keyframe = Vec::new();
        let ids: Vec<String> = self.order.clone();
        for id in ids {
            let selected = self.selected_videos(&id);
            let Some(peer) = self.peers.get(&id) else {
                continue;
            };
            for (key, sub) in &peer.subs {
                let Some(p) = self.published.get(key) else {
                    continue;
                };
                let publisher_muted = self.peers.get(&p.publisher).is_some_and(|pp| match p.kind {
                    MediaKind::Audio => pp.audio_muted,
                    MediaKind::Video => pp.video_muted,
                });
                let on = !publisher_muted
                    && match p.kind {
                        MediaKind::Audio => true,
                        MediaKind::Video => !peer.audio_only() && selected.contains(&p.publisher),
                    };
                if sub.link.set_active(on) && p.kind == MediaKind::Video {
                    want_keyframe.push(*key);
                }
            }
        }
        for key in want_keyframe {
            self.request_keyframe(key);
        }
    }

    /// Asks the publisher of `key` for a keyframe, coalesced: while a request is unanswered
    /// (no keyframe since it went out) and younger than the retry bound, asks join it — the
    /// keyframe that answers it reaches every active link. Never dropped: an unanswered one is
    /// sent again after the bound.
    fn request_keyframe(&mut self, key: u64) {
        let retry = self.config.keyframe_retry;
        let base = self.base;
        let Some(p) = self.published.get_mut(&key) else {
            return;
        };
        if p.kind != MediaKind::Video {
            return;
        }
        let now = Instant::now();
        if let Some(pending) = p.keyframe_pending {
            let answered = p
                .list
                .last_keyframe(base)
                .is_some_and(|k| k >= pending.sent);
            if !answered && now < pending.sent + retry {
                return;
            }
        }
        p.keyframe_pending = Some(PendingKeyframe {
            sent: now,
            retries: 0,
        });
        self.send_pli(key);
    }

    /// Re-sends the requests a keyframe has not answered within the bound.
    fn retry_keyframes(&mut self) {
        let retry = self.config.keyframe_retry;
        let base = self.base;
        let now = Instant::now();
        let mut due = Vec::new();
        for (key, p) in &mut self.published {
            let Some(pending) = p.keyframe_pending else {
                continue;
            };
            if p.list
                .last_keyframe(base)
                .is_some_and(|k| k >= pending.sent)
            {
                p.keyframe_pending = None;
            } else if now >= pending.sent + retry {
                if pending.retries >= KEYFRAME_RETRIES {
                    p.keyframe_pending = None;
                } else {
                    p.keyframe_pending = Some(PendingKeyframe {
                        sent: now,
                        retries: pending.retries + 1,
                    });
                    due.push(*key);
                }
            }
        }
        for key in due {
            self.send_pli(key);
        }
    }

    fn send_pli(&mut self, key: u64) {
        let Some(p) = self.published.get(&key) else {
            return;
        };
        self.keyframes_sent += 1;
        let (remote, ssrc) = (p.remote.clone(), p.ssrc);
        tokio::spawn(async move {
            let _ = remote
                .write_rtcp(vec![Box::new(PictureLossIndication {
                    sender_ssrc: 0,
                    media_ssrc: ssrc,
                })])
                .await;
        });
    }

    fn keyframe_request(&mut self, subscriber: &str, media_ssrc: u32) {
        let key = self.peers.get(subscriber).and_then(|p| {
            p.subs
                .iter()
                .find(|(_, s)| s.link.ssrc == media_ssrc)
                .map(|(k, _)| *k)
        });
        if let Some(key) = key {
            self.request_keyframe(key);
        }
    }

    async fn internal(&mut self, ev: Internal) {
        match ev {
            Internal::Track(pid, generation, remote) => {
                self.track(&pid, generation, remote).await;
                self.after_change().await;
            }
            Internal::TrackEnded(key) => {
                if self.published.contains_key(&key) {
                    self.unpublish(key).await;
                    self.after_change().await;
                }
            }
            Internal::State(pid, generation, state) => {
                let Some(peer) = self.peers.get_mut(&pid) else {
                    return;
                };
                if peer.generation != generation {
                    return;
                }
                match state {
                    RTCPeerConnectionState::Connected => {
                        peer.connected = true;
                        peer.queue.set_ready(true);
                    }
                    RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed => {
                        peer.connected = false;
                        peer.queue.set_ready(false);
                        if peer.proven {
                            peer.proven = false;
                            let _ = self.events.send(MediaEvent::MediaLost {
                                participant: pid,
                                reason: LostReason::IceFailed,
                                silent_for: silent_for(&peer.shared),
                            });
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    async fn track(&mut self, pid: &str, generation: u64, remote: Arc<dyn TrackRemote>) {
        let kind = match remote_kind(&remote).await {
            Some(k) => k,
            None => return,
        };
        let ssrc = remote.ssrcs().await.first().copied().unwrap_or(0);
        let mime = remote
            .codec(ssrc)
            .await
            .map(|c| c.mime_type.to_ascii_lowercase())
            .unwrap_or_default();
        let allowed = self
            .peers
            .get(pid)
            .is_some_and(|p| p.generation == generation && p.options.publish);
        let list = Arc::new(FanoutList::default());
        self.next_key += 1;
        let key = self.next_key;
        // Always drain the track; only a publisher's tracks get subscribers.
        let vp8 = mime == "video/vp8";
        if let Some(p) = self.peers.get(pid) {
            list.set_audio_level_in(p.audio_level_in);
        }
        let (r, l, c, ended, base) = (
            remote.clone(),
            list.clone(),
            self.counters.clone(),
            self.internal_tx.clone(),
            self.base,
        );
        tokio::spawn(async move {
            forward::fanout(r, kind, vp8, l, c, base).await;
            let _ = ended.send(Internal::TrackEnded(key));
        });
        if !allowed {
            return;
        }
        self.published.insert(
            self.next_key,
            Published {
                publisher: pid.to_string(),
                kind,
                remote,
                ssrc,
                list,
                keyframe_pending: None,
            },
        );
    }

    async fn tick(&mut self) {
        let now = Instant::now();
        let timeout = self.config.no_media_timeout;
        let fresh =
            |t: Option<Instant>| t.is_some_and(|t| now.saturating_duration_since(t) < timeout);
        let mut events = Vec::new();
        for id in &self.order {
            let Some(peer) = self.peers.get_mut(id) else {
                continue;
            };
            let sends_audio = !peer.audio_muted
                && self
                    .published
                    .values()
                    .any(|p| &p.publisher == id && p.kind == MediaKind::Audio);
            if !peer.proven {
                let by_audio = fresh(peer.shared.last_audio_rtp());
                let by_rtcp = !sends_audio && fresh(peer.shared.last_rtcp());
                if peer.connected && (by_audio || by_rtcp) {
                    peer.proven = true;
                    events.push(MediaEvent::MediaProven {
                        participant: id.clone(),
                    });
                }
            } else if !fresh(peer.shared.last_rx()) {
                peer.proven = false;
                events.push(MediaEvent::MediaLost {
                    participant: id.clone(),
                    reason: LostReason::Timeout,
                    silent_for: silent_for(&peer.shared),
                });
            }
            // Audio levels for the speaker detector.
            if !peer.audio_muted {
                for (at, level) in peer.shared.take_levels() {
                    self.speaker.observe(id, at, level);
                }
            } else {
                peer.shared.take_levels();
            }
        }
        let peers = &self.peers;
        let changed = self
            .speaker
            .tick(now, |who| peers.get(who).is_some_and(|p| !p.audio_muted));
        let mut gates = false;
        if let Some(who) = changed {
            self.recent_speakers.retain(|p| p != &who);
            self.recent_speakers.insert(0, who.clone());
            self.recent_speakers.truncate(32);
            events.push(MediaEvent::ActiveSpeaker { participant: who });
            gates = true;
        }
        if now >= self.last_quality + self.config.quality_interval {
            let elapsed = now.duration_since(self.last_quality).as_secs_f64();
            self.last_quality = now;
            for id in &self.order {
                let Some(peer) = self.peers.get_mut(id) else {
                    continue;
                };
                let sent = peer.shared.sent_bytes.load(Ordering::Relaxed);
                let delta = sent.saturating_sub(peer.last_sent);
                peer.last_sent = sent;
                let has_video = peer.subs.values().any(|s| s.link.kind == MediaKind::Video);
                let loss = peer.shared.take_loss();
                if !has_video || peer.requested_audio_only || !peer.connected {
                    continue;
                }
                let sample = LinkSample {
                    sent_bps: delta as f64 * 8.0 / elapsed,
                    loss,
                    remb_bps: peer
                        .shared
                        .remb_since(now - self.config.quality_interval * 2),
                };
                match peer.weak.sample(now, &sample) {
                    Some(Switch::AudioOnly) => {
                        peer.weak_on = true;
                        gates = true;
                        events.push(MediaEvent::AudioOnly {
                            participant: id.clone(),
                            on: true,
                            reason: AudioOnlyReason::WeakLink,
                        });
                    }
                    Some(Switch::VideoBack) => {
                        peer.weak_on = false;
                        gates = true;
                        events.push(MediaEvent::AudioOnly {
                            participant: id.clone(),
                            on: false,
                            reason: AudioOnlyReason::Recovered,
                        });
                    }
                    None => {}
                }
            }
        }
        if gates {
            self.refresh_gates();
        }
        for e in events {
            let _ = self.events.send(e);
        }
    }
}

fn silent_for(shared: &PeerShared) -> Duration {
    shared.last_rx().map(|t| t.elapsed()).unwrap_or_default()
}

async fn flush_early_candidates(peer: &mut Peer) {
    for c in peer.early_candidates.take().unwrap_or_default() {
        if let Err(e) = peer.pc.add_ice_candidate(c).await {
            tracing::debug!(error = %e, "media: an early candidate was refused");
        }
    }
}

async fn remote_kind(remote: &Arc<dyn TrackRemote>) -> Option<MediaKind> {
    match remote.kind().await {
        RtpCodecKind::Audio => Some(MediaKind::Audio),
        RtpCodecKind::Video => Some(MediaKind::Video),
        _ => None,
    }
}

fn rand_ssrc() -> u32 {
    // Random and non-zero; uniqueness per connection is all that matters.
    let v = uuid::Uuid::new_v4().as_u128() as u32;
    if v == 0 { 1 } else { v }
}
