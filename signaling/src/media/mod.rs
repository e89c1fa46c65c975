//! The media engine: a selective forwarding unit (SFU) on the `webrtc` crate (0.21, the async
//! layer over the sans-IO `rtc` core). Nothing outside this module names that crate's types,
//! so the engine could be swapped; the room talks to it through [`MediaRoom`] and hears from
//! it through [`MediaEvent`]s.
//!
//! # One peer connection per participant
//!
//! Each participant has exactly one peer connection that carries what he publishes and what he
//! receives. Two (a publish and a subscribe connection) would simplify negotiation, but:
//! - the crate binds one UDP socket per connection and cannot multiplex peers on a port, so two
//!   connections would double the ports a meeting needs (and the port range to open);
//! - a phone on a weak link would run two ICE checks, two DTLS handshakes and two consent
//!   timers, and an address change (Wi-Fi → 4G) would need two ICE restarts that can fail
//!   separately;
//! - presence is one question ("is media from him arriving?") with one answer on one
//!   transport; RTCP from either direction keeps it alive.
//!
//! The price is renegotiation on a shared connection. The rules that keep it simple:
//! - a participant with the `publish` grant sends the first offer (his tracks); one who may only
//!   receive gets the first offer from the server;
//! - afterwards the server offers whenever the tracks he should receive change (someone
//!   publishes or leaves), one offer at a time; changes meanwhile are batched into the next;
//! - the server is the *polite* peer: a client offer that crosses a server offer wins, the
//!   server rolls its offer back, answers, and offers again afterwards. Clients never roll back
//!   (they ignore a server offer while their own is pending);
//! - an ICE restart is a client offer with new credentials (the client notices the network
//!   change first), or [`MediaRoom::restart_ice`] for a server-initiated one. The participant,
//!   his tracks and his presence stay.
//!
//! Every subscriber gets one send-only transceiver per published track (video only while he
//! is not audio-only); what he actually receives is gated on the server (host mute, his video
//! choice, weak link) without renegotiation, so switching is immediate even on a bad link.
//!
//! A publisher stops a track by renegotiating: the tracks whose SSRC his new offer no longer
//! sends are unpublished and taken off the subscribers' connections (the crate signals no end
//! of a remote track on renegotiation, so the offer's `a=ssrc` lines decide).
//!
//! # Presence
//!
//! [`MediaEvent::MediaProven`] when his connection is up and his audio RTP arrives — or, if he
//! sends no audio (a receive-only device, or muted through [`MediaRoom::set_muted`]), his RTCP.
//! [`MediaEvent::MediaLost`] when nothing at all (RTP or RTCP) has come for the no-media
//! timeout, or ICE failed; a muted member keeps sending RTCP reports, so muting does not make
//! him absent. A receive-only device sends reports only once it receives something, so it is
//! proven when the first published track reaches it.
//!
//! # Weak links
//!
//! Each quality interval the subscriber's receiver reports (loss) and REMB, if any, give a
//! downlink estimate (see [`quality`]); two bad intervals move him to audio-only (his video
//! links stop on the server, audio never does), and after a probe delay video is tried again.
//! Audio and video of a subscriber have separate queues and audio is always written first.
//!
//! # Codecs
//!
//! Opus (with the RFC 6464 audio-level extension) and VP8 only: without transcoding every
//! subscriber must decode what every publisher sends, and every browser has both. Payload
//! types and extension ids are whatever each side negotiated (Chrome puts opus on 111, Firefox
//! on 109, others elsewhere): packets are renumbered per receiver from what his description
//! says. A receiver whose description has no Opus (or no VP8) gets an error frame
//! `no_common_codec` rather than silence. NACKs are answered from the subscriber connection's send buffer, receiver and sender
//! reports come from the crate's interceptors.

mod config;
mod forward;
mod observer;
pub mod quality;
pub(crate) mod room;
pub mod sdp;
pub mod speaker;
mod turn;

#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(test)]
mod tests;

pub use config::{ConfigError, MediaConfig, RemoteCandidates, TurnConfig};
pub use room::{MediaRoom, MediaStats};
pub use turn::{ice_servers, turn_credential, turn_credentials};

use hongying_proto::signaling::IceCandidate;

/// What a participant may do, from his join grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParticipantOptions {
    pub publish: bool,
    pub subscribe: bool,
    /// Joined audio-only: no video is sent to him (and he is expected to send none).
    pub audio_only: bool,
}

/// Which videos a subscriber receives.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum VideoSelection {
    /// Every published video.
    #[default]
    All,
    /// These publishers' videos only.
    Only(Vec<String>),
    /// The active speaker and the others who spoke most recently, `n` videos in all.
    Speakers(usize),
}

/// Why a participant's media was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LostReason {
    /// Nothing arrived for the no-media timeout.
    Timeout,
    /// ICE failed.
    IceFailed,
}

impl LostReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "media_timeout",
            Self::IceFailed => "ice_failed",
        }
    }
}

/// Why a subscriber's audio-only mode changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioOnlyReason {
    /// He asked (or joined audio-only).
    Requested,
    /// His link is too weak for video (loss or bandwidth under the threshold).
    WeakLink,
    /// His link recovered: video is back.
    Recovered,
}

impl AudioOnlyReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::WeakLink => "weak_link",
            Self::Recovered => "recovered",
        }
    }
}

/// Out of the engine, for the room to turn into frames.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaEvent {
    /// A server ICE candidate for the participant (trickle).
    LocalCandidate {
        participant: String,
        candidate: IceCandidate,
    },
    /// The server renegotiates: send this offer; the answer goes to [`MediaRoom::apply_answer`].
    Offer { participant: String, sdp: String },
    /// The participant's media is flowing: his connection is up and his audio (or, receiving
    /// only or muted, his RTCP) arrives.
    MediaProven { participant: String },
    /// Nothing arrived from him for the timeout, or ICE failed. His media was last seen
    /// `silent_for` ago (close his attendance interval then, not now).
    MediaLost {
        participant: String,
        reason: LostReason,
        silent_for: std::time::Duration,
    },
    /// The active speaker changed.
    ActiveSpeaker { participant: String },
    /// The subscriber receives audio only (`on`) or video again.
    AudioOnly {
        participant: String,
        on: bool,
        reason: AudioOnlyReason,
    },
    /// Something about his connection he must hear of though he asked nothing (an error frame
    /// without a request id): e.g. he negotiated no codec the meeting uses, so he would
    /// otherwise receive silence without knowing why.
    Error {
        participant: String,
        error: MediaError,
    },
}

/// A request the engine refused. `code` is stable snake_case for error frames.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    #[error("会议中没有这位参会人的音视频连接。")]
    UnknownParticipant,
    #[error("无效的会话描述（SDP）：{0}")]
    BadSdp(String),
    #[error("无效的 ICE 候选：{0}")]
    BadCandidate(String),
    #[error("服务器没有待应答的协商。")]
    UnexpectedAnswer,
    #[error("你的设备与会议没有共同的{0}编码（会议使用 Opus 音频和 VP8 视频），收不到他人的{0}。")]
    NoCommonCodec(String),
    #[error("音视频服务已关闭。")]
    Closed,
    #[error("音视频服务出错：{0}")]
    Failed(String),
}

impl MediaError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownParticipant => "unknown_participant",
            Self::BadSdp(_) => "bad_sdp",
            Self::BadCandidate(_) => "bad_candidate",
            Self::UnexpectedAnswer => "unexpected_answer",
            Self::NoCommonCodec(_) => "no_common_codec",
            Self::Closed => "media_closed",
            Self::Failed(_) => "media_failed",
        }
    }
}
