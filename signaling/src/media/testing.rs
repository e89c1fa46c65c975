//! Real WebRTC clients for tests and the benchmark: `webrtc` peer connections on loopback that
//! publish synthetic Opus and VP8 RTP (well-formed packets, nothing encoded), count what they
//! receive, and a harness that plays the room's part (relays offers, answers and candidates)
//! with an optional UDP impairment proxy between a client and the SFU.
//!
//! Network rule: clients bind 127.0.0.1 only and have no ICE servers unless a test hands them
//! a TURN server on loopback ([`PeerOptions`]), so every candidate and every check stays on
//! loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hongying_proto::signaling::{IceCandidate, IceServer, MediaKind};
use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::Slot;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::RTCOfferOptions;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp;
use rtc::rtp::extension::HeaderExtension;
use rtc::rtp::extension::audio_level_extension::AudioLevelExtension;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use tokio::net::UdpSocket;
use tokio::sync::{Notify, mpsc};
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCConfigurationBuilder,
    RTCIceCandidateInit, RTCIceServer, RTCIceTransportPolicy, RTCPeerConnectionIceEvent,
    RTCPeerConnectionState, RTCSessionDescription, SettingEngineBuilder,
};
use webrtc::rtp_transceiver::RtpSender;

use super::forward::vp8_keyframe_start;
use super::observer::{KeyframeRequest, Observer, PeerShared};
use super::room::{AUDIO_LEVEL_URI, PT_OPUS, PT_VP8, codec, media_engine_from};
use super::{MediaConfig, MediaEvent, MediaRoom, ParticipantOptions, sdp};

/// What a client counts.
#[derive(Default)]
pub struct Received {
    /// (publisher stream id, is video) → RTP packets received.
    pub packets: Mutex<HashMap<(String, bool), u64>>,
    /// Publisher stream id → his video as a decoder sees it.
    pub video: Mutex<HashMap<String, Decodable>>,
    tracks: Mutex<Vec<Arc<dyn TrackRemote>>>,
    pub keyframe_requests: AtomicU64,
    pub connected: AtomicBool,
    pub changed: Notify,
}

/// A received video as a decoder would take it: nothing until a keyframe, frames after.
#[derive(Debug, Clone, Copy, Default)]
pub struct Decodable {
    /// When the first keyframe started.
    pub first_keyframe: Option<Instant>,
    pub keyframes: u64,
    /// Frames completed (marker bit) since the first keyframe.
    pub frames: u64,
}

struct ClientHandler {
    received: Arc<Received>,
    candidates: mpsc::UnboundedSender<IceCandidate>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for ClientHandler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(init) = event.candidate.to_json()
            && !init.candidate.is_empty()
        {
            let _ = self.candidates.send(IceCandidate {
                candidate: init.candidate,
                sdp_mid: init.sdp_mid,
                sdp_mline_index: init.sdp_mline_index,
            });
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.received.connected.store(
            state == RTCPeerConnectionState::Connected,
            Ordering::Release,
        );
        self.received.changed.notify_waiters();
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let received = self.received.clone();
        received.tracks.lock().unwrap().push(track.clone());
        tokio::spawn(async move {
            let stream = track.stream_id().await;
            let kind = match track.kind().await {
                RtpCodecKind::Audio => MediaKind::Audio,
                _ => MediaKind::Video,
            };
            while let Some(ev) = track.poll().await {
                match ev {
                    TrackRemoteEvent::OnRtpPacket(pkt) => {
                        if kind == MediaKind::Video {
                            let mut v = received.video.lock().unwrap();
                            let d = v.entry(stream.clone()).or_default();
                            if vp8_keyframe_start(&pkt.payload) {
                                d.keyframes += 1;
                                d.first_keyframe.get_or_insert_with(Instant::now);
                            }
                            if d.first_keyframe.is_some() && pkt.header.marker {
                                d.frames += 1;
                            }
                        }
                        *received
                            .packets
                            .lock()
                            .unwrap()
                            .entry((stream.clone(), kind == MediaKind::Video))
                            .or_default() += 1;
                    }
                    TrackRemoteEvent::OnEnded => break,
                    _ => {}
                }
            }
        });
    }
}

/// What the synthetic sender does; flip the flags while it runs.
pub struct Sending {
    pub audio: AtomicBool,
    pub video: AtomicBool,
    /// RFC 6464 level of the audio (0 loudest, 127 silence).
    pub level: AtomicU8,
    /// Video bitrate, bits per second.
    pub video_bps: AtomicU64,
    /// Keyframes only when asked (a PLI/FIR came) and the first one, as many encoders do,
    /// instead of one every 2 s.
    pub keyframes_on_request_only: AtomicBool,
    pub stop: AtomicBool,
    pub sent_audio: AtomicU64,
    pub sent_video: AtomicU64,
}

/// How a client numbers its codecs. The default is Chrome's (opus 111, VP8 96, the audio
/// level as the first extension).
#[derive(Debug, Clone, Copy)]
pub struct ClientCodecs {
    /// Opus's payload type; `None`: the client has no Opus (PCMU instead).
    pub opus: Option<u8>,
    /// VP8's payload type; `None`: the client has no VP8 (VP9 instead).
    pub vp8: Option<u8>,
    /// Another audio extension registered before the audio level, so its id differs from the
    /// server's.
    pub shift_extension_ids: bool,
}

impl Default for ClientCodecs {
    fn default() -> Self {
        Self {
            opus: Some(PT_OPUS),
            vp8: Some(PT_VP8),
            shift_extension_ids: false,
        }
    }
}

impl ClientCodecs {
    /// Firefox's numbering.
    pub fn firefox() -> Self {
        Self {
            opus: Some(109),
            vp8: Some(120),
            shift_extension_ids: true,
        }
    }

    fn parameters(&self) -> Vec<RTCRtpCodecParameters> {
        let mut audio = codec(MediaKind::Audio);
        match self.opus {
            Some(pt) => audio.payload_type = pt,
            None => {
                audio = RTCRtpCodecParameters {
                    rtp_codec: RTCRtpCodec {
                        mime_type: "audio/PCMU".into(),
                        clock_rate: 8000,
                        channels: 1,
                        sdp_fmtp_line: String::new(),
                        rtcp_feedback: vec![],
                    },
                    payload_type: 0,
                }
            }
        }
        let mut video = codec(MediaKind::Video);
        match self.vp8 {
            Some(pt) => video.payload_type = pt,
            None => {
                video = RTCRtpCodecParameters {
                    rtp_codec: RTCRtpCodec {
                        mime_type: "video/VP9".into(),
                        clock_rate: 90_000,
                        channels: 0,
                        sdp_fmtp_line: "profile-id=0".into(),
                        rtcp_feedback: vec![],
                    },
                    payload_type: 98,
                }
            }
        }
        vec![audio, video]
    }
}

/// How a client reaches the SFU. The default is host candidates on 127.0.0.1 and no ICE
/// servers.
#[derive(Debug, Clone, Default)]
pub struct PeerOptions {
    pub codecs: ClientCodecs,
    /// As the join answer hands them out (TURN with credentials, STUN without).
    pub ice_servers: Vec<IceServer>,
    /// ICE transport policy `relay`: only TURN relay candidates are gathered and used, as a
    /// phone behind a firewall that lets nothing but the TURN server through.
    pub relay_only: bool,
}

pub struct TestPeer {
    pc: Arc<dyn PeerConnection>,
    pub received: Arc<Received>,
    /// What the client's own observer saw arrive (audio levels under the client's own
    /// extension id, RTCP).
    pub observed: Arc<PeerShared>,
    codecs: ClientCodecs,
    pub sending: Arc<Sending>,
    audio: Option<Arc<TrackLocalStaticRTP>>,
    video: Option<Arc<TrackLocalStaticRTP>>,
    video_sender: Mutex<Option<Arc<dyn RtpSender>>>,
    audio_ssrc: u32,
    video_ssrc: u32,
    candidates: Mutex<Option<mpsc::UnboundedReceiver<IceCandidate>>>,
    /// Server candidates that came before the server's description (as browsers queue them).
    early: tokio::sync::Mutex<(bool, Vec<IceCandidate>)>,
}

impl TestPeer {
    /// A loopback client; with `publish`, one audio and one video track (sendrecv).
    pub async fn new(publish: bool) -> Result<Arc<Self>, String> {
        Self::with_options(publish, PeerOptions::default()).await
    }

    /// A loopback client with ICE servers and, optionally, relay-only ICE.
    pub async fn with_options(publish: bool, options: PeerOptions) -> Result<Arc<Self>, String> {
        let codecs = options.codecs;
        let mut extensions = Vec::new();
        if codecs.shift_extension_ids {
            extensions.push("http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time");
        }
        extensions.push(AUDIO_LEVEL_URI);
        let (me, registry) =
            media_engine_from(&codecs.parameters(), &extensions).map_err(|e| e.to_string())?;
        let (kf_tx, mut kf_rx) = mpsc::unbounded_channel::<(String, KeyframeRequest)>();
        let observed = Arc::new(PeerShared::new(Instant::now()));
        let registry = registry.with(
            Slot::from(14_000),
            Observer::new("client".into(), observed.clone(), kf_tx),
        );
        let received = Arc::new(Received::default());
        let r2 = received.clone();
        tokio::spawn(async move {
            while kf_rx.recv().await.is_some() {
                r2.keyframe_requests.fetch_add(1, Ordering::Relaxed);
                r2.changed.notify_waiters();
            }
        });
        let (cand_tx, cand_rx) = mpsc::unbounded_channel();
        let se = SettingEngineBuilder::new()
            .with_multicast_dns_mode(MulticastDnsMode::Disabled)
            .build();
        let ice_servers = options
            .ice_servers
            .into_iter()
            .map(|s| RTCIceServer {
                urls: s.urls,
                username: s.username.unwrap_or_default(),
                credential: s.credential.unwrap_or_default(),
            })
            .collect();
        let mut configuration = RTCConfigurationBuilder::new().with_ice_servers(ice_servers);
        if options.relay_only {
            configuration = configuration.with_ice_transport_policy(RTCIceTransportPolicy::Relay);
        }
        let pc = PeerConnectionBuilder::new()
            .with_configuration(configuration.build())
            .with_media_engine(me)
            .with_setting_engine(se)
            .with_interceptor_registry(registry)
            .with_handler(Arc::new(ClientHandler {
                received: received.clone(),
                candidates: cand_tx,
            }))
            .with_udp_addrs(vec![SocketAddr::from(([127, 0, 0, 1], 0))])
            .build()
            .await
            .map_err(|e| e.to_string())?;
        let pc: Arc<dyn PeerConnection> = Arc::new(pc);
        let audio_ssrc = rand_u32();
        let video_ssrc = rand_u32();
        let (mut audio, mut video, mut video_sender) = (None, None, None);
        if publish {
            let params = codecs.parameters();
            for (kind, ssrc) in [
                (MediaKind::Audio, audio_ssrc),
                (MediaKind::Video, video_ssrc),
            ] {
                let c = match kind {
                    MediaKind::Audio => params[0].clone(),
                    MediaKind::Video => params[1].clone(),
                };
                let rk = match kind {
                    MediaKind::Audio => RtpCodecKind::Audio,
                    MediaKind::Video => RtpCodecKind::Video,
                };
                let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
                    "me".into(),
                    format!("me-{ssrc}"),
                    "me".into(),
                    rk,
                    vec![RTCRtpEncodingParameters {
                        rtp_coding_parameters: RTCRtpCodingParameters {
                            ssrc: Some(ssrc),
                            ..Default::default()
                        },
                        codec: c.rtp_codec.clone(),
                        ..Default::default()
                    }],
                )));
                let t = pc
                    .add_transceiver_from_track(
                        Arc::clone(&track) as Arc<dyn TrackLocal>,
                        Some(RTCRtpTransceiverInit {
                            direction: RTCRtpTransceiverDirection::Sendrecv,
                            streams: vec!["me".into()],
                            send_encodings: vec![],
                        }),
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                match kind {
                    MediaKind::Audio => audio = Some(track),
                    MediaKind::Video => {
                        video = Some(track);
                        video_sender = t.sender().await.map_err(|e| e.to_string())?;
                    }
                }
            }
        }
        Ok(Arc::new(Self {
            pc,
            received,
            observed,
            codecs,
            sending: Arc::new(Sending {
                audio: AtomicBool::new(false),
                video: AtomicBool::new(false),
                level: AtomicU8::new(30),
                video_bps: AtomicU64::new(500_000),
                keyframes_on_request_only: AtomicBool::new(false),
                stop: AtomicBool::new(false),
                sent_audio: AtomicU64::new(0),
                sent_video: AtomicU64::new(0),
            }),
            audio,
            video,
            video_sender: Mutex::new(video_sender),
            audio_ssrc,
            video_ssrc,
            candidates: Mutex::new(Some(cand_rx)),
            early: tokio::sync::Mutex::new((false, Vec::new())),
        }))
    }

    pub async fn create_offer(&self, ice_restart: bool) -> Result<String, String> {
        let options = ice_restart.then_some(RTCOfferOptions { ice_restart: true });
        let offer = self
            .pc
            .create_offer(options)
            .await
            .map_err(|e| e.to_string())?;
        self.pc
            .set_local_description(offer.clone())
            .await
            .map_err(|e| e.to_string())?;
        Ok(offer.sdp)
    }

    pub async fn apply_answer(&self, sdp: String) -> Result<(), String> {
        let desc = RTCSessionDescription::answer(sdp).map_err(|e| e.to_string())?;
        self.pc
            .set_remote_description(desc)
            .await
            .map_err(|e| e.to_string())?;
        self.flush_early().await;
        Ok(())
    }

    async fn flush_early(&self) {
        let mut g = self.early.lock().await;
        g.0 = true;
        for c in std::mem::take(&mut g.1) {
            let _ = self.add_now(c).await;
        }
    }

    /// Applies a server offer; the answer.
    pub async fn apply_offer(&self, sdp: String) -> Result<String, String> {
        let desc = RTCSessionDescription::offer(sdp).map_err(|e| e.to_string())?;
        self.pc
            .set_remote_description(desc)
            .await
            .map_err(|e| e.to_string())?;
        let answer = self
            .pc
            .create_answer(None)
            .await
            .map_err(|e| e.to_string())?;
        self.pc
            .set_local_description(answer.clone())
            .await
            .map_err(|e| e.to_string())?;
        self.flush_early().await;
        Ok(answer.sdp)
    }

    pub async fn add_candidate(&self, c: IceCandidate) -> Result<(), String> {
        let mut g = self.early.lock().await;
        if !g.0 {
            g.1.push(c);
            return Ok(());
        }
        drop(g);
        self.add_now(c).await
    }

    async fn add_now(&self, c: IceCandidate) -> Result<(), String> {
        self.pc
            .add_ice_candidate(RTCIceCandidateInit {
                candidate: c.candidate,
                sdp_mid: c.sdp_mid,
                sdp_mline_index: c.sdp_mline_index,
                ..Default::default()
            })
            .await
            .map_err(|e| e.to_string())
    }

    /// The type (`host`, `srflx`, `prflx`, `relay`) of the local candidate of the pair ICE
    /// selected; `None` before it has selected one (or without a sender).
    pub async fn selected_local_candidate_type(&self) -> Option<String> {
        for sender in self.pc.get_senders().await {
            let Ok(Some(dtls)) = sender.transport().await else {
                continue;
            };
            if let Ok(Some(pair)) = dtls.ice_transport().get_selected_candidate_pair().await {
                return Some(pair.local().typ.to_string());
            }
        }
        None
    }

    pub fn take_candidates(&self) -> Option<mpsc::UnboundedReceiver<IceCandidate>> {
        self.candidates.lock().unwrap().take()
    }

    /// RTP packets received from `publisher`'s `kind` track.
    pub fn received_from(&self, publisher: &str, kind: MediaKind) -> u64 {
        self.received
            .packets
            .lock()
            .unwrap()
            .get(&(publisher.to_string(), kind == MediaKind::Video))
            .copied()
            .unwrap_or(0)
    }

    /// `publisher`'s video as a decoder sees it.
    pub fn video_from(&self, publisher: &str) -> Decodable {
        self.received
            .video
            .lock()
            .unwrap()
            .get(publisher)
            .copied()
            .unwrap_or_default()
    }

    pub fn received_total(&self) -> u64 {
        self.received.packets.lock().unwrap().values().sum()
    }

    pub fn keyframe_requests(&self) -> u64 {
        self.received.keyframe_requests.load(Ordering::Relaxed)
    }

    /// Sends a PLI for `publisher`'s video, as a decoder that lost sync would.
    pub async fn request_keyframe(&self, publisher: &str) -> bool {
        let tracks = self.received.tracks.lock().unwrap().clone();
        for t in tracks {
            if t.stream_id().await == publisher && t.kind().await == RtpCodecKind::Video {
                let Some(ssrc) = t.ssrcs().await.first().copied() else {
                    continue;
                };
                return t
                    .write_rtcp(vec![Box::new(PictureLossIndication {
                        sender_ssrc: 0,
                        media_ssrc: ssrc,
                    })])
                    .await
                    .is_ok();
            }
        }
        false
    }

    /// Starts the synthetic sender: Opus-sized audio every 20 ms with an audio level, VP8
    /// frames at 30 fps at the configured bitrate (a keyframe every 2 s). Runs until
    /// `sending.stop`.
    pub fn start_sending(self: &Arc<Self>) {
        let me = self.clone();
        tokio::spawn(async move {
            let s = me.sending.clone();
            let (mut aseq, mut vseq) = (rand_u32() as u16, rand_u32() as u16);
            let (mut ats, mut vts) = (rand_u32(), rand_u32());
            let mut frame: u64 = 0;
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let started = Instant::now();
            let mut video_due = Duration::ZERO;
            let (opus_pt, vp8_pt) = (me.codecs.opus.unwrap_or(0), me.codecs.vp8.unwrap_or(98));
            let mut answered_requests = 0;
            while !s.stop.load(Ordering::Relaxed) {
                tick.tick().await;
                // As a browser does: nothing before the connection (and its SRTP keys) is up.
                if !me.received.connected.load(Ordering::Acquire) {
                    continue;
                }
                if let Some(a) = &me.audio
                    && s.audio.load(Ordering::Relaxed)
                {
                    let level = s.level.load(Ordering::Relaxed);
                    let pkt = rtp_packet(opus_pt, aseq, ats, me.audio_ssrc, true, opus_payload());
                    let ext = HeaderExtension::AudioLevel(AudioLevelExtension {
                        level,
                        voice: level < 127,
                    });
                    if a.write_rtp_with_extensions(pkt, &[ext]).await.is_ok() {
                        s.sent_audio.fetch_add(1, Ordering::Relaxed);
                    }
                    aseq = aseq.wrapping_add(1);
                }
                ats = ats.wrapping_add(960);
                // 30 fps from a 20 ms clock.
                while video_due <= started.elapsed() {
                    video_due += Duration::from_micros(33_333);
                    vts = vts.wrapping_add(3000);
                    let Some(v) = &me.video else { continue };
                    if !s.video.load(Ordering::Relaxed) {
                        continue;
                    }
                    let key = if s.keyframes_on_request_only.load(Ordering::Relaxed) {
                        let asked = me.keyframe_requests();
                        let key = frame == 0 || asked > answered_requests;
                        answered_requests = asked;
                        key
                    } else {
                        frame.is_multiple_of(60)
                    };
                    frame += 1;
                    let bytes = (s.video_bps.load(Ordering::Relaxed) / 8 / 30) as usize;
                    let bytes = if key { bytes * 3 } else { bytes }.max(200);
                    let n = bytes.div_ceil(1100);
                    for i in 0..n {
                        let payload = vp8_payload(i == 0, key, bytes / n);
                        let pkt = rtp_packet(vp8_pt, vseq, vts, me.video_ssrc, i + 1 == n, payload);
                        vseq = vseq.wrapping_add(1);
                        if v.write_rtp(pkt).await.is_ok() {
                            s.sent_video.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        });
    }

    /// Stops publishing video (removes the sender); renegotiate afterwards.
    pub async fn stop_video(&self) -> Result<(), String> {
        self.sending.video.store(false, Ordering::Relaxed);
        let sender = self.video_sender.lock().unwrap().take();
        match sender {
            Some(s) => self.pc.remove_track(&s).await.map_err(|e| e.to_string()),
            None => Ok(()),
        }
    }

    pub async fn close(&self) {
        self.sending.stop.store(true, Ordering::Relaxed);
        let _ = self.pc.close().await;
    }
}

fn rand_u32() -> u32 {
    uuid::Uuid::new_v4().as_u128() as u32 | 1
}

fn rtp_packet(pt: u8, seq: u16, ts: u32, ssrc: u32, marker: bool, payload: Bytes) -> rtp::Packet {
    rtp::Packet {
        header: rtp::Header {
            version: 2,
            marker,
            payload_type: pt,
            sequence_number: seq,
            timestamp: ts,
            ssrc,
            ..Default::default()
        },
        payload,
    }
}

/// A 20 ms Opus packet's worth of bytes (TOC byte for CELT fullband 20 ms, then filler).
fn opus_payload() -> Bytes {
    let mut v = vec![0xfc];
    v.extend(std::iter::repeat_n(0x55, 79));
    Bytes::from(v)
}

/// A VP8 packet: payload descriptor (S bit on the first packet of a frame), and on that
/// first packet a frame tag whose P bit says key or inter frame.
fn vp8_payload(first: bool, key: bool, len: usize) -> Bytes {
    let mut v = Vec::with_capacity(len.max(8));
    if first {
        v.push(0x10);
        if key {
            v.extend_from_slice(&[0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01]);
        } else {
            v.extend_from_slice(&[0x01, 0x00, 0x00]);
        }
    } else {
        v.push(0x00);
    }
    while v.len() < len {
        v.push(0xa5);
    }
    Bytes::from(v)
}

/// How the proxy degrades the path.
#[derive(Debug, Clone, Copy, Default)]
pub struct Impairment {
    /// Fraction of packets dropped in each direction.
    pub drop: f64,
    /// Server → client rate limit (token bucket with a 100 ms burst), bits per second.
    pub down_bps: Option<u64>,
    /// Drop everything both ways.
    pub blackhole: bool,
}

/// A UDP relay between one client and one SFU connection on loopback. The client is given
/// the proxy's address in place of the SFU's; the SFU sees the proxy as the client (a
/// peer-reflexive candidate). [`Proxy::rebind`] changes the address the SFU sees, as a phone
/// moving from Wi-Fi to 4G does.
pub struct Proxy {
    pub client_facing: SocketAddr,
    target: Mutex<Option<SocketAddr>>,
    pub impairment: Mutex<Impairment>,
    server_side: Mutex<Arc<UdpSocket>>,
    client_sock: Arc<UdpSocket>,
    client_addr: Mutex<Option<SocketAddr>>,
    generation: AtomicU64,
}

impl Proxy {
    pub async fn start() -> Arc<Proxy> {
        let client_sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let server_sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let p = Arc::new(Proxy {
            client_facing: client_sock.local_addr().unwrap(),
            target: Mutex::new(None),
            impairment: Mutex::new(Impairment::default()),
            server_side: Mutex::new(server_sock.clone()),
            client_sock: client_sock.clone(),
            client_addr: Mutex::new(None),
            generation: AtomicU64::new(0),
        });
        // client → server
        let up = p.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
            while let Ok((n, from)) = up.client_sock.recv_from(&mut buf).await {
                *up.client_addr.lock().unwrap() = Some(from);
                let imp = *up.impairment.lock().unwrap();
                if imp.blackhole || rng.chance(imp.drop) {
                    continue;
                }
                let target = *up.target.lock().unwrap();
                let sock = up.server_side.lock().unwrap().clone();
                if let Some(t) = target {
                    let _ = sock.send_to(&buf[..n], t).await;
                }
            }
        });
        p.spawn_down(server_sock, 0);
        p
    }

    fn spawn_down(self: &Arc<Self>, sock: Arc<UdpSocket>, generation: u64) {
        let down = self.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            let mut rng = Rng(0x2545_f491_4f6c_dd1d);
            let mut tokens = 0.0f64;
            let mut last = Instant::now();
            loop {
                let Ok(Ok((n, _))) =
                    tokio::time::timeout(Duration::from_millis(500), sock.recv_from(&mut buf))
                        .await
                else {
                    if down.generation.load(Ordering::Relaxed) != generation {
                        return;
                    }
                    continue;
                };
                if down.generation.load(Ordering::Relaxed) != generation {
                    return;
                }
                let imp = *down.impairment.lock().unwrap();
                if imp.blackhole || rng.chance(imp.drop) {
                    continue;
                }
                if let Some(bps) = imp.down_bps {
                    let now = Instant::now();
                    let bytes_per_sec = bps as f64 / 8.0;
                    tokens = (tokens + now.duration_since(last).as_secs_f64() * bytes_per_sec)
                        .min(bytes_per_sec * 0.1);
                    last = now;
                    if tokens < n as f64 {
                        continue;
                    }
                    tokens -= n as f64;
                }
                let to = *down.client_addr.lock().unwrap();
                if let Some(to) = to {
                    let _ = down.client_sock.send_to(&buf[..n], to).await;
                }
            }
        });
    }

    /// The SFU connection this proxy relays to (learned from its first candidate).
    pub fn set_target(&self, addr: SocketAddr) {
        let mut t = self.target.lock().unwrap();
        if t.is_none() {
            *t = Some(addr);
        }
    }

    pub fn impair(&self, imp: Impairment) {
        *self.impairment.lock().unwrap() = imp;
    }

    /// A new server-facing socket: the SFU sees the client at a new address.
    pub async fn rebind(self: &Arc<Self>) {
        let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        *self.server_side.lock().unwrap() = sock.clone();
        self.spawn_down(sock, generation);
    }

    /// A server candidate as the client must see it: the proxy's port instead of the SFU's.
    pub fn rewrite_candidate(&self, c: &str) -> String {
        if let Some((ip, port)) = sdp::candidate_addr(c) {
            self.set_target(SocketAddr::new(ip, port));
            let from = format!(" {ip} {port} ");
            let to = format!(
                " {} {} ",
                self.client_facing.ip(),
                self.client_facing.port()
            );
            return c.replacen(&from, &to, 1);
        }
        c.to_string()
    }

    pub fn rewrite_sdp(&self, text: &str) -> String {
        let mut out = String::new();
        for line in text.split_inclusive('\n') {
            if line.starts_with("a=candidate:") {
                out.push_str(&self.rewrite_candidate(line));
            } else {
                out.push_str(line);
            }
        }
        out
    }
}

struct Rng(u64);

impl Rng {
    fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

struct Entry {
    peer: Arc<TestPeer>,
    proxy: Option<Arc<Proxy>>,
    /// One negotiation at a time per client, as one socket delivers frames in order.
    lock: Arc<tokio::sync::Mutex<()>>,
}

/// Plays the room: relays negotiation between the SFU and the test clients, records the
/// other events.
pub struct Harness {
    pub room: MediaRoom,
    entries: Arc<Mutex<HashMap<String, Entry>>>,
    pub events: Arc<Mutex<Vec<MediaEvent>>>,
    notify: Arc<Notify>,
}

impl Harness {
    pub fn start(config: MediaConfig) -> Harness {
        let (room, mut rx) = MediaRoom::start(Arc::new(config));
        let entries: Arc<Mutex<HashMap<String, Entry>>> = Arc::default();
        let events: Arc<Mutex<Vec<MediaEvent>>> = Arc::default();
        let notify = Arc::new(Notify::new());
        let (e2, ev2, n2, room2) = (
            entries.clone(),
            events.clone(),
            notify.clone(),
            room.clone(),
        );
        tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                match ev {
                    MediaEvent::LocalCandidate {
                        participant,
                        mut candidate,
                    } => {
                        let target = {
                            let e = e2.lock().unwrap();
                            e.get(&participant)
                                .map(|en| (en.peer.clone(), en.proxy.clone()))
                        };
                        if let Some((peer, proxy)) = target {
                            if let Some(p) = proxy {
                                candidate.candidate = p.rewrite_candidate(&candidate.candidate);
                            }
                            let _ = peer.add_candidate(candidate).await;
                        }
                    }
                    MediaEvent::Offer { participant, sdp } => {
                        let target = {
                            let e = e2.lock().unwrap();
                            e.get(&participant)
                                .map(|en| (en.peer.clone(), en.proxy.clone(), en.lock.clone()))
                        };
                        if let Some((peer, proxy, lock)) = target {
                            let sdp = match &proxy {
                                Some(p) => p.rewrite_sdp(&sdp),
                                None => sdp,
                            };
                            let room = room2.clone();
                            tokio::spawn(async move {
                                let _turn = lock.lock().await;
                                let sdp_copy = sdp.clone();
                                match peer.apply_offer(sdp).await {
                                    Ok(answer) => {
                                        let answer = if proxy.is_some() {
                                            sdp::filter_candidates(&answer, |_| false)
                                        } else {
                                            answer
                                        };
                                        if let Err(e) =
                                            room.apply_answer(&participant, answer).await
                                        {
                                            eprintln!(
                                                "{participant}: the SFU refused the answer: {e}"
                                            );
                                        }
                                    }
                                    Err(e) => eprintln!(
                                        "{participant}: cannot apply the offer: {e}\n{sdp_copy}"
                                    ),
                                }
                            });
                        }
                    }
                    other => {
                        ev2.lock().unwrap().push(other);
                        n2.notify_waiters();
                    }
                }
            }
        });
        Harness {
            room,
            entries,
            events,
            notify,
        }
    }

    /// Adds a participant and connects a client for him (through a proxy if given).
    pub async fn join(
        &self,
        id: &str,
        options: ParticipantOptions,
        proxy: Option<Arc<Proxy>>,
    ) -> Result<Arc<TestPeer>, String> {
        self.join_with(id, options, proxy, PeerOptions::default())
            .await
    }

    /// As [`Harness::join`], with a client built as `peer_options` says (its codec numbering).
    pub async fn join_with(
        &self,
        id: &str,
        options: ParticipantOptions,
        proxy: Option<Arc<Proxy>>,
        peer_options: PeerOptions,
    ) -> Result<Arc<TestPeer>, String> {
        let peer = TestPeer::with_options(options.publish, peer_options).await?;
        // Known before the SFU can offer to him or trickle candidates.
        self.entries.lock().unwrap().insert(
            id.to_string(),
            Entry {
                peer: peer.clone(),
                proxy: proxy.clone(),
                lock: Arc::default(),
            },
        );
        self.room
            .add_participant(id, options)
            .await
            .map_err(|e| e.to_string())?;
        // The client's candidates reach the SFU directly only without a proxy; through one,
        // the SFU learns the proxy's address from the checks themselves.
        if let Some(mut cands) = peer.take_candidates() {
            let room = self.room.clone();
            let id2 = id.to_string();
            let direct = proxy.is_none();
            tokio::spawn(async move {
                while let Some(c) = cands.recv().await {
                    if direct {
                        let _ = room.add_candidate(&id2, c).await;
                    }
                }
            });
        }
        if options.publish {
            self.client_offer(id, false).await?;
        }
        Ok(peer)
    }

    /// His app restarts: a new client (new peer connection, new DTLS certificate) takes over
    /// the participant and offers; the SFU is not told otherwise.
    pub async fn restart_client(&self, id: &str) -> Result<Arc<TestPeer>, String> {
        let peer = TestPeer::new(true).await?;
        {
            let mut e = self.entries.lock().unwrap();
            let en = e.get_mut(id).ok_or("unknown")?;
            en.peer = peer.clone();
            en.proxy = None;
        }
        if let Some(mut cands) = peer.take_candidates() {
            let room = self.room.clone();
            let id2 = id.to_string();
            tokio::spawn(async move {
                while let Some(c) = cands.recv().await {
                    let _ = room.add_candidate(&id2, c).await;
                }
            });
        }
        self.client_offer(id, false).await?;
        Ok(peer)
    }

    /// The client offers (first offer, or an ICE restart) and applies the SFU's answer.
    pub async fn client_offer(&self, id: &str, ice_restart: bool) -> Result<(), String> {
        let (peer, proxy, lock) = {
            let e = self.entries.lock().unwrap();
            let en = e.get(id).ok_or("unknown")?;
            (en.peer.clone(), en.proxy.clone(), en.lock.clone())
        };
        let _turn = lock.lock().await;
        let offer = peer.create_offer(ice_restart).await?;
        let offer = if proxy.is_some() {
            sdp::filter_candidates(&offer, |_| false)
        } else {
            offer
        };
        let answer = self
            .room
            .apply_offer(id, offer)
            .await
            .map_err(|e| e.to_string())?;
        let answer = match &proxy {
            Some(p) => p.rewrite_sdp(&answer),
            None => answer,
        };
        peer.apply_answer(answer).await
    }

    /// Waits until an event matching `f` has been recorded (from the start); false on timeout.
    pub async fn wait_event(&self, timeout: Duration, f: impl Fn(&MediaEvent) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.notify.notified();
            if self.events.lock().unwrap().iter().any(&f) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let _ = tokio::time::timeout(left.min(Duration::from_millis(200)), notified).await;
        }
    }

    pub fn count_events(&self, f: impl Fn(&MediaEvent) -> bool) -> usize {
        self.events.lock().unwrap().iter().filter(|e| f(e)).count()
    }
}

/// Polls `f` until true or the timeout passes.
pub async fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f()
}
