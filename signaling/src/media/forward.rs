//! The packet path: one fan-out task per published track copies each RTP packet into the
//! queue of every subscriber whose link is on; one writer task per subscriber drains his
//! queues — audio first, always — rewrites SSRC, payload type, header-extension ids and
//! sequence numbers for his leg, and hands the packet to his connection (whose interceptors
//! keep it for NACK and account for it in sender reports). Nothing is decoded. A slow
//! subscriber fills only his own queues; video is dropped there before audio is.
//!
//! Payload types and extension ids are per leg: a Firefox subscriber may have negotiated opus
//! on 109 while the publisher sends it on 111, so every link carries what its receiver
//! negotiated ([`Link::set_negotiated`]) and sends nothing until it knows.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hongying_proto::signaling::MediaKind;
use rtc::rtp;
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use super::observer::KeyframeRequest;

const AUDIO_QUEUE: usize = 128;
const VIDEO_QUEUE: usize = 512;
/// Payload types are 7 bits: this one means "not negotiated (yet)".
pub const NO_PT: u8 = 0xff;
/// A link waiting for a keyframe asks again this often while the publisher's packets arrive
/// (the SFU coalesces the requests per published track).
const KEYFRAME_ASK_EVERY: Duration = Duration::from_millis(300);

/// Room-wide packet counters (for the benchmark and metrics).
#[derive(Debug, Default)]
pub struct Counters {
    pub received: AtomicU64,
    pub forwarded: AtomicU64,
    pub dropped: AtomicU64,
    /// Packets the crate refused to take for a subscriber (track unbound, connection closed).
    pub write_errors: AtomicU64,
}

/// One published track as one subscriber receives it.
pub struct Link {
    pub subscriber: String,
    pub kind: MediaKind,
    pub track: Arc<TrackLocalStaticRTP>,
    pub ssrc: u32,
    /// What his answer negotiated for this track; [`NO_PT`] until then.
    payload_type: AtomicU8,
    /// His id of the RFC 6464 audio-level extension; 0 when he did not negotiate it.
    audio_level_id: AtomicU8,
    pub vp8: bool,
    /// Forwarding on (publisher not muted, selected, subscriber not audio-only).
    pub active: AtomicBool,
    /// Bumped each time the link comes back on: the writer then renumbers and waits for a
    /// keyframe.
    pub epoch: AtomicU32,
    pub queue: Arc<SubscriberQueue>,
}

impl Link {
    pub fn new(
        subscriber: String,
        kind: MediaKind,
        track: Arc<TrackLocalStaticRTP>,
        ssrc: u32,
        vp8: bool,
        queue: Arc<SubscriberQueue>,
    ) -> Self {
        Self {
            subscriber,
            kind,
            track,
            ssrc,
            payload_type: AtomicU8::new(NO_PT),
            audio_level_id: AtomicU8::new(0),
            vp8,
            active: AtomicBool::new(false),
            epoch: AtomicU32::new(0),
            queue,
        }
    }

    /// Sets the gate; true when it just came on.
    pub fn set_active(&self, on: bool) -> bool {
        let was = self.active.swap(on, Ordering::AcqRel);
        if on && !was {
            self.epoch.fetch_add(1, Ordering::AcqRel);
            return true;
        }
        false
    }

    /// What the receiver negotiated for this track (`None`: no common codec, send nothing).
    pub fn set_negotiated(&self, payload_type: Option<u8>, audio_level_id: Option<u8>) {
        self.audio_level_id
            .store(audio_level_id.unwrap_or(0), Ordering::Release);
        self.payload_type
            .store(payload_type.unwrap_or(NO_PT), Ordering::Release);
    }

    pub fn payload_type(&self) -> Option<u8> {
        let pt = self.payload_type.load(Ordering::Acquire);
        (pt != NO_PT).then_some(pt)
    }
}

/// A packet for one link, with the publisher's audio level (extension payload) if it had one.
pub type Item = (Arc<Link>, rtp::Packet, Option<Bytes>);

pub struct SubscriberQueue {
    audio: mpsc::Sender<Item>,
    video: mpsc::Sender<Item>,
    /// His DTLS is up, so SRTP keys exist: writing earlier only makes the crate log one warning
    /// per packet and drop it.
    ready: AtomicBool,
}

impl SubscriberQueue {
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }
}

/// The links of one published track, copied on write so the per-packet path only clones an
/// `Arc`.
#[derive(Default)]
pub struct FanoutList {
    links: RwLock<Arc<Vec<Arc<Link>>>>,
    /// The publisher's id of the audio-level extension (0: none).
    audio_level_in: AtomicU8,
    /// When the last keyframe started (micros since the room's base + 1; 0: never).
    last_keyframe: AtomicU64,
}

impl FanoutList {
    pub fn snapshot(&self) -> Arc<Vec<Arc<Link>>> {
        self.links
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn add(&self, link: Arc<Link>) {
        let mut g = self.links.write().unwrap_or_else(PoisonError::into_inner);
        let mut v = (**g).clone();
        v.push(link);
        *g = Arc::new(v);
    }

    pub fn remove_subscriber(&self, subscriber: &str) {
        let mut g = self.links.write().unwrap_or_else(PoisonError::into_inner);
        let v: Vec<_> = g
            .iter()
            .filter(|l| l.subscriber != subscriber)
            .cloned()
            .collect();
        *g = Arc::new(v);
    }

    pub fn set_audio_level_in(&self, id: Option<u8>) {
        self.audio_level_in
            .store(id.unwrap_or(0), Ordering::Release);
    }

    /// When the publisher last started a keyframe, if ever.
    pub fn last_keyframe(&self, base: Instant) -> Option<Instant> {
        match self.last_keyframe.load(Ordering::Acquire) {
            0 => None,
            v => Some(base + Duration::from_micros(v - 1)),
        }
    }
}

/// Reads a published track until it ends and copies its packets to the active links.
/// `base` is the room's clock origin for keyframe times.
pub async fn fanout(
    remote: Arc<dyn TrackRemote>,
    kind: MediaKind,
    vp8: bool,
    list: Arc<FanoutList>,
    counters: Arc<Counters>,
    base: Instant,
) {
    while let Some(ev) = remote.poll().await {
        let TrackRemoteEvent::OnRtpPacket(mut pkt) = ev else {
            if matches!(ev, TrackRemoteEvent::OnEnded) {
                break;
            }
            continue;
        };
        counters.received.fetch_add(1, Ordering::Relaxed);
        if vp8 && vp8_keyframe_start(&pkt.payload) {
            let at = u64::try_from(base.elapsed().as_micros()).unwrap_or(u64::MAX - 1) + 1;
            list.last_keyframe.store(at, Ordering::Release);
        }
        // Extension ids are per leg: the audio level is carried over to each subscriber's id,
        // the rest (transport-wide sequence numbers…) are added by his interceptors if he
        // negotiated them. Stripped once here so each subscriber's copy is cheap.
        let level = match list.audio_level_in.load(Ordering::Acquire) {
            0 => None,
            id => pkt.header.get_extension(id),
        };
        pkt.header.extension = false;
        pkt.header.extensions.clear();
        pkt.header.extensions_padding = 0;
        let links = list.snapshot();
        for link in links.iter() {
            if !link.active.load(Ordering::Acquire) {
                continue;
            }
            let q = match kind {
                MediaKind::Audio => &link.queue.audio,
                MediaKind::Video => &link.queue.video,
            };
            if q.try_send((link.clone(), pkt.clone(), level.clone()))
                .is_err()
            {
                counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[derive(Default)]
struct SeqState {
    epoch: Option<u32>,
    offset: u16,
    last_out: Option<u16>,
    resync: bool,
    wait_keyframe: bool,
    last_ask: Option<Instant>,
}

/// Starts a subscriber's writer; it ends when the queue is dropped. A link waiting for a
/// keyframe asks for one through `keyframes`, as the subscriber's own PLI would.
pub fn subscriber_queue(
    subscriber: String,
    counters: Arc<Counters>,
    keyframes: mpsc::UnboundedSender<(String, KeyframeRequest)>,
) -> Arc<SubscriberQueue> {
    let (audio, mut audio_rx) = mpsc::channel::<Item>(AUDIO_QUEUE);
    let (video, mut video_rx) = mpsc::channel::<Item>(VIDEO_QUEUE);
    let queue = Arc::new(SubscriberQueue {
        audio,
        video,
        ready: AtomicBool::new(false),
    });
    tokio::spawn(async move {
        let mut state: HashMap<u32, SeqState> = HashMap::new();
        let mut write_errors: u64 = 0;
        loop {
            let (link, mut pkt, level) = tokio::select! {
                biased;
                Some(item) = audio_rx.recv() => item,
                Some(item) = video_rx.recv() => item,
                else => break,
            };
            // Not deliverable yet: no keys, or his answer has not told us his numbering. The
            // link's state starts with the first packet that is, so video waits for a keyframe.
            let Some(payload_type) = link.payload_type() else {
                continue;
            };
            if !link.queue.ready.load(Ordering::Acquire) || !link.active.load(Ordering::Acquire) {
                continue;
            }
            let st = state.entry(link.ssrc).or_default();
            let epoch = link.epoch.load(Ordering::Acquire);
            if st.epoch != Some(epoch) {
                st.epoch = Some(epoch);
                st.resync = true;
                st.wait_keyframe = link.vp8;
                st.last_ask = None;
            }
            if st.wait_keyframe {
                if !vp8_keyframe_start(&pkt.payload) {
                    let now = Instant::now();
                    if st
                        .last_ask
                        .is_none_or(|t| now.duration_since(t) >= KEYFRAME_ASK_EVERY)
                    {
                        st.last_ask = Some(now);
                        let _ = keyframes.send((
                            subscriber.clone(),
                            KeyframeRequest {
                                media_ssrc: link.ssrc,
                            },
                        ));
                    }
                    continue;
                }
                st.wait_keyframe = false;
            }
            if st.resync {
                st.offset = match st.last_out {
                    Some(last) => pkt
                        .header
                        .sequence_number
                        .wrapping_sub(last.wrapping_add(1)),
                    None => 0,
                };
                st.resync = false;
            }
            let seq = pkt.header.sequence_number.wrapping_sub(st.offset);
            if st
                .last_out
                .is_none_or(|last| seq.wrapping_sub(last) < 0x8000)
            {
                st.last_out = Some(seq);
            }
            pkt.header.sequence_number = seq;
            pkt.header.ssrc = link.ssrc;
            pkt.header.payload_type = payload_type;
            if let Some(level) = level {
                let id = link.audio_level_id.load(Ordering::Acquire);
                if id != 0 {
                    // RFC 8285: one-byte headers carry ids 1-14 only.
                    pkt.header.extension_profile = if id <= 14 { 0xBEDE } else { 0x1000 };
                    pkt.header.extension = true;
                    let _ = pkt.header.set_extension(id, level);
                }
            }
            match link.track.write_rtp(pkt).await {
                Ok(()) => {
                    counters.forwarded.fetch_add(1, Ordering::Relaxed);
                }
                // The link or his connection went while the packet was on its way: teardown,
                // not a failure.
                Err(_)
                    if !link.active.load(Ordering::Acquire)
                        || !link.queue.ready.load(Ordering::Acquire) => {}
                Err(e) => {
                    counters.write_errors.fetch_add(1, Ordering::Relaxed);
                    write_errors += 1;
                    // Once per connection: the count is in the room's stats.
                    if write_errors == 1 {
                        tracing::warn!(
                            participant = %subscriber,
                            error = %e,
                            "media: cannot write to a subscriber (further failures only counted)"
                        );
                    }
                }
            }
        }
    });
    queue
}

/// Whether a VP8 RTP payload starts a keyframe (RFC 7741: S bit and partition 0 in the
/// payload descriptor, then P = 0 in the payload header).
pub fn vp8_keyframe_start(payload: &[u8]) -> bool {
    let Some(&b0) = payload.first() else {
        return false;
    };
    let (x, s, pid) = (b0 & 0x80 != 0, b0 & 0x10 != 0, b0 & 0x07);
    if !s || pid != 0 {
        return false;
    }
    let mut i = 1;
    if x {
        let Some(&b1) = payload.get(1) else {
            return false;
        };
        i = 2;
        if b1 & 0x80 != 0 {
            // PictureID: 7 or 15 bits.
            let Some(&p) = payload.get(i) else {
                return false;
            };
            i += if p & 0x80 != 0 { 2 } else { 1 };
        }
        if b1 & 0x40 != 0 {
            i += 1; // TL0PICIDX
        }
        if b1 & 0x30 != 0 {
            i += 1; // TID / KEYIDX
        }
    }
    payload.get(i).is_some_and(|h| h & 0x01 == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vp8_keyframes_are_recognised() {
        // Minimal descriptor (S=1, PID=0), then a keyframe header (P=0).
        assert!(vp8_keyframe_start(&[0x10, 0x00, 0x9d, 0x01, 0x2a]));
        // Interframe (P=1).
        assert!(!vp8_keyframe_start(&[0x10, 0x01]));
        // Not the start of a partition.
        assert!(!vp8_keyframe_start(&[0x00, 0x00]));
        // Extended descriptor with a 15-bit picture id, keyframe.
        assert!(vp8_keyframe_start(&[0x90, 0x80, 0x81, 0x23, 0x00]));
        // Truncated payloads never panic.
        assert!(!vp8_keyframe_start(&[]));
        assert!(!vp8_keyframe_start(&[0x90]));
        assert!(!vp8_keyframe_start(&[0x90, 0x80]));
    }
}
