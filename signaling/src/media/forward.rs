//! The packet path: one fan-out task per published track copies each RTP packet into the
//! queue of every subscriber whose link is on; one writer task per subscriber drains his
//! queues — audio first, always — rewrites SSRC, payload type and sequence numbers for his leg,
//! and hands the packet to his connection (whose interceptors keep it for NACK and account for
//! it in sender reports). Nothing is decoded. A slow subscriber fills only his own queues;
//! video is dropped there before audio is.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use hongying_proto::signaling::MediaKind;
use rtc::rtp;
use tokio::sync::mpsc;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

const AUDIO_QUEUE: usize = 128;
const VIDEO_QUEUE: usize = 512;

/// Room-wide packet counters (for the benchmark and metrics).
#[derive(Debug, Default)]
pub struct Counters {
    pub received: AtomicU64,
    pub forwarded: AtomicU64,
    pub dropped: AtomicU64,
}

/// One published track as one subscriber receives it.
pub struct Link {
    pub subscriber: String,
    pub kind: MediaKind,
    pub track: Arc<TrackLocalStaticRTP>,
    pub ssrc: u32,
    pub payload_type: u8,
    pub vp8: bool,
    /// Forwarding on (publisher not muted, selected, subscriber not audio-only).
    pub active: AtomicBool,
    /// Bumped each time the link comes back on: the writer then renumbers and waits for a
    /// keyframe.
    pub epoch: AtomicU32,
    pub queue: Arc<SubscriberQueue>,
}

impl Link {
    /// Sets the gate; true when it just came on.
    pub fn set_active(&self, on: bool) -> bool {
        let was = self.active.swap(on, Ordering::AcqRel);
        if on && !was {
            self.epoch.fetch_add(1, Ordering::AcqRel);
            return true;
        }
        false
    }
}

pub type Item = (Arc<Link>, rtp::Packet);

pub struct SubscriberQueue {
    audio: mpsc::Sender<Item>,
    video: mpsc::Sender<Item>,
}

/// The links of one published track, copied on write so the per-packet path only clones an
/// `Arc`.
#[derive(Default)]
pub struct FanoutList {
    links: RwLock<Arc<Vec<Arc<Link>>>>,
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
}

/// Reads a published track until it ends and copies its packets to the active links.
pub async fn fanout(
    remote: Arc<dyn TrackRemote>,
    kind: MediaKind,
    list: Arc<FanoutList>,
    counters: Arc<Counters>,
) {
    while let Some(ev) = remote.poll().await {
        let TrackRemoteEvent::OnRtpPacket(mut pkt) = ev else {
            if matches!(ev, TrackRemoteEvent::OnEnded) {
                break;
            }
            continue;
        };
        counters.received.fetch_add(1, Ordering::Relaxed);
        // Extension ids are per leg; ours are added by the interceptors if negotiated. Stripped
        // once here so each subscriber's copy is cheap.
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
            if q.try_send((link.clone(), pkt.clone())).is_err() {
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
}

/// Starts a subscriber's writer; it ends when the queue is dropped.
pub fn subscriber_queue(counters: Arc<Counters>) -> Arc<SubscriberQueue> {
    let (audio, mut audio_rx) = mpsc::channel::<Item>(AUDIO_QUEUE);
    let (video, mut video_rx) = mpsc::channel::<Item>(VIDEO_QUEUE);
    tokio::spawn(async move {
        let mut state: HashMap<u32, SeqState> = HashMap::new();
        loop {
            let (link, mut pkt) = tokio::select! {
                biased;
                Some(item) = audio_rx.recv() => item,
                Some(item) = video_rx.recv() => item,
                else => break,
            };
            let st = state.entry(link.ssrc).or_default();
            let epoch = link.epoch.load(Ordering::Acquire);
            if st.epoch != Some(epoch) {
                st.epoch = Some(epoch);
                st.resync = true;
                st.wait_keyframe = link.vp8;
            }
            if st.wait_keyframe {
                if !vp8_keyframe_start(&pkt.payload) {
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
            pkt.header.payload_type = link.payload_type;
            if link.track.write_rtp(pkt).await.is_ok() {
                counters.forwarded.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    Arc::new(SubscriberQueue { audio, video })
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
