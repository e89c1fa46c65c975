//! An interceptor at the application end of each peer connection's chain that watches what
//! arrives and leaves, without changing it: when the participant was last heard (RTP, audio
//! RTP, RTCP — presence), his audio levels (active speaker), the loss his receiver reports say
//! and any REMB (weak links), the bytes we send him, and his keyframe requests (relayed to the
//! publisher). Inbound RTCP otherwise stops inside the chain, so this is where the SFU learns
//! of it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use rtc::interceptor::{Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::payload_feedbacks::receiver_estimated_maximum_bitrate::ReceiverEstimatedMaximumBitrate;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::sender_report::SenderReport;
use rtc::sansio::Protocol;
use rtc::shared::error::Error;
use tokio::sync::mpsc;

use super::speaker::parse_audio_level;

const AUDIO_LEVEL_URI: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";

/// What the engine learns from one participant's connection; written by the interceptor on
/// the connection's driver, read by the room's media task.
#[derive(Debug)]
pub struct PeerShared {
    base: Instant,
    /// Micros since `base` + 1 (0 = never).
    last_rx: AtomicU64,
    last_audio_rtp: AtomicU64,
    last_rtcp: AtomicU64,
    /// RTP bytes sent to him, retransmissions included.
    pub sent_bytes: AtomicU64,
    pub sent_packets: AtomicU64,
    /// Since the last quality sample: highest fraction lost (0..255) his reports gave, + 1.
    worst_loss: AtomicU64,
    remb_bps: AtomicU64,
    remb_at: AtomicU64,
    /// Audio levels of his audio RTP since last drained.
    levels: Mutex<Vec<(Instant, u8)>>,
}

impl PeerShared {
    pub fn new(base: Instant) -> Self {
        Self {
            base,
            last_rx: AtomicU64::new(0),
            last_audio_rtp: AtomicU64::new(0),
            last_rtcp: AtomicU64::new(0),
            sent_bytes: AtomicU64::new(0),
            sent_packets: AtomicU64::new(0),
            worst_loss: AtomicU64::new(0),
            remb_bps: AtomicU64::new(0),
            remb_at: AtomicU64::new(0),
            levels: Mutex::new(Vec::new()),
        }
    }

    fn stamp(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_micros()).unwrap_or(u64::MAX - 1)
            + 1
    }

    fn when(&self, v: u64) -> Option<Instant> {
        (v > 0).then(|| self.base + std::time::Duration::from_micros(v - 1))
    }

    /// Counts as heard at `at` (a replaced connection carries its presence over).
    pub fn heard(&self, at: Instant) {
        self.last_rx.store(self.stamp(at), Ordering::Relaxed);
    }

    pub fn last_rx(&self) -> Option<Instant> {
        self.when(self.last_rx.load(Ordering::Relaxed))
    }
    pub fn last_audio_rtp(&self) -> Option<Instant> {
        self.when(self.last_audio_rtp.load(Ordering::Relaxed))
    }
    pub fn last_rtcp(&self) -> Option<Instant> {
        self.when(self.last_rtcp.load(Ordering::Relaxed))
    }

    /// The worst loss reported since the last call (0..1), and resets it.
    pub fn take_loss(&self) -> Option<f64> {
        match self.worst_loss.swap(0, Ordering::Relaxed) {
            0 => None,
            v => Some((v - 1) as f64 / 256.0),
        }
    }

    /// The REMB estimate if it came after `since`.
    pub fn remb_since(&self, since: Instant) -> Option<f64> {
        let at = self.when(self.remb_at.load(Ordering::Relaxed))?;
        (at >= since).then(|| self.remb_bps.load(Ordering::Relaxed) as f64)
    }

    pub fn take_levels(&self) -> Vec<(Instant, u8)> {
        std::mem::take(&mut *self.levels.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Sent to the room's media task.
#[derive(Debug)]
pub struct KeyframeRequest {
    /// The SSRC of the stream we send him that he wants a keyframe of.
    pub media_ssrc: u32,
}

pub struct Observer {
    shared: Arc<PeerShared>,
    keyframes: mpsc::UnboundedSender<(String, KeyframeRequest)>,
    participant: String,
    /// His audio streams → the audio-level extension id, if negotiated.
    audio: HashMap<u32, Option<u8>>,
    read_queue: VecDeque<TaggedPacket>,
    write_queue: VecDeque<TaggedPacket>,
}

impl Observer {
    pub fn new(
        participant: String,
        shared: Arc<PeerShared>,
        keyframes: mpsc::UnboundedSender<(String, KeyframeRequest)>,
    ) -> Self {
        Self {
            shared,
            keyframes,
            participant,
            audio: HashMap::new(),
            read_queue: VecDeque::new(),
            write_queue: VecDeque::new(),
        }
    }

    fn reports(&self, reports: &[rtc::rtcp::reception_report::ReceptionReport]) {
        for r in reports {
            self.shared
                .worst_loss
                .fetch_max(u64::from(r.fraction_lost) + 1, Ordering::Relaxed);
        }
    }

    fn rtcp(&self, now: Instant, packets: &[Box<dyn rtc::rtcp::Packet>]) {
        let stamp = self.shared.stamp(now);
        self.shared.last_rtcp.store(stamp, Ordering::Relaxed);
        self.shared.last_rx.store(stamp, Ordering::Relaxed);
        for p in packets {
            let any = p.as_any();
            if let Some(pli) = any.downcast_ref::<PictureLossIndication>() {
                let _ = self.keyframes.send((
                    self.participant.clone(),
                    KeyframeRequest {
                        media_ssrc: pli.media_ssrc,
                    },
                ));
            } else if let Some(fir) = any.downcast_ref::<FullIntraRequest>() {
                for e in &fir.fir {
                    let _ = self.keyframes.send((
                        self.participant.clone(),
                        KeyframeRequest { media_ssrc: e.ssrc },
                    ));
                }
            } else if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
                self.reports(&rr.reports);
            } else if let Some(sr) = any.downcast_ref::<SenderReport>() {
                self.reports(&sr.reports);
            } else if let Some(remb) = any.downcast_ref::<ReceiverEstimatedMaximumBitrate>() {
                self.shared
                    .remb_bps
                    .store(remb.bitrate.max(0.0) as u64, Ordering::Relaxed);
                self.shared.remb_at.store(stamp, Ordering::Relaxed);
            }
        }
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for Observer {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        match &msg.message.packet {
            Packet::Rtp(p) => {
                let stamp = self.shared.stamp(msg.now);
                self.shared.last_rx.store(stamp, Ordering::Relaxed);
                if let Some(ext) = self.audio.get(&p.header.ssrc) {
                    self.shared.last_audio_rtp.store(stamp, Ordering::Relaxed);
                    if let Some(level) = ext
                        .and_then(|id| p.header.get_extension(id))
                        .and_then(|b| parse_audio_level(&b))
                    {
                        let mut levels = self
                            .shared
                            .levels
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner);
                        if levels.len() < 4096 {
                            levels.push((msg.now, level));
                        }
                    }
                }
            }
            Packet::Rtcp(packets) => self.rtcp(msg.now, packets),
            _ => {}
        }
        self.read_queue.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read_queue.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtp(p) = &msg.message.packet {
            let size = p.header.marshal_size_estimate() + p.payload.len();
            self.shared
                .sent_bytes
                .fetch_add(size as u64, Ordering::Relaxed);
            self.shared.sent_packets.fetch_add(1, Ordering::Relaxed);
        }
        self.write_queue.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write_queue.pop_front()
    }
}

/// Header size without marshalling: 12 bytes + CSRCs + extensions (close enough for rates).
trait HeaderSize {
    fn marshal_size_estimate(&self) -> usize;
}

impl HeaderSize for rtc::rtp::header::Header {
    fn marshal_size_estimate(&self) -> usize {
        12 + 4 * self.csrc.len()
            + if self.extension {
                4 + self
                    .extensions
                    .iter()
                    .map(|e| 2 + e.payload.len())
                    .sum::<usize>()
            } else {
                0
            }
    }
}

impl Interceptor for Observer {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, info: &StreamInfo) {
        if info.mime_type.to_ascii_lowercase().starts_with("audio/") {
            let ext = info
                .rtp_header_extensions
                .iter()
                .find(|e| e.uri == AUDIO_LEVEL_URI)
                .and_then(|e| u8::try_from(e.id).ok());
            self.audio.insert(info.ssrc, ext);
        }
    }
    fn unbind_remote_stream(&mut self, info: &StreamInfo) {
        self.audio.remove(&info.ssrc);
    }
}
