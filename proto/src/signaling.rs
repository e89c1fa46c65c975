//! The signaling protocol: JSON messages over the `/ws` socket.
//!
//! Every frame is an envelope `{"v": 1, "id": "...", "type": "...", "data": {...}}`.
//! `v` is the protocol version (a client sending a version the server does not speak gets
//! an `unsupported_version` error and the socket closes). `id` is chosen by the client for
//! requests; the server's answer or error frame carries the same `id`, so a phone on a
//! weak link can match answers to requests and retry safely. Server-initiated events
//! carry no `id` but a per-room sequence number `seq`, which a resuming client uses to
//! receive what it missed, in order. Adjacent tagging (`type` + `data`) keeps each
//! payload a closed struct, so unknown fields are refused rather than ignored.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u16 = 1;

/// A frame from a client. (serde cannot deny unknown fields beside a flattened enum;
/// the payloads themselves deny them.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClientFrame {
    pub v: u16,
    /// Request id, echoed on the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(flatten)]
    pub msg: ClientMsg,
}

/// A frame from the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServerFrame {
    pub v: u16,
    /// The request this answers, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Per-room event sequence, for resume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(flatten)]
    pub msg: ServerMsg,
}

/// The audience of join tokens, so an access token can never pass for one (nor the reverse).
pub const JOIN_AUDIENCE: &str = "hongying-join";

/// What a join token allows inside the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinGrants {
    /// May send audio and video.
    pub publish: bool,
    /// May receive the others' media.
    pub subscribe: bool,
    /// May use the host controls.
    pub host: bool,
}

/// Answer of `POST /api/v1/meetings/{id}/join-token` and
/// `POST /api/v1/services/consultations/{id}/join-token`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JoinTokenResponse {
    /// A short-lived JWT for this room only; send it in the `join` message.
    pub token: String,
    /// The room: the meeting's id, or `consultation:<id>` for a consultation's room (the
    /// `meeting_id` of its room state).
    pub meeting_id: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub grants: JoinGrants,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Audio,
    Video,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VoteChoice {
    Yes,
    No,
    Abstain,
}

/// What a client may send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(
    tag = "type",
    content = "data",
    rename_all = "snake_case",
    deny_unknown_fields
)]
pub enum ClientMsg {
    /// Join a meeting with a join token from `POST /api/v1/meetings/{id}/join-token`;
    /// with a resume token, take back the same participant after a dropped socket.
    Join(Join),
    Leave,
    Ping(Ping),
    /// WebRTC negotiation, relayed to the SFU.
    Offer(Sdp),
    Answer(Sdp),
    Candidate(IceCandidate),
    /// Mute or unmute one's own track.
    Mute(Mute),
    RaiseHand,
    LowerHand,
    Chat(ChatText),
    /// A host control; refused with `not_host` from anyone else.
    Host(HostAction),
    /// A ballot on an open motion (same rules and idempotency as REST).
    CastBallot(CastBallot),
    /// Acknowledge notices up to a cursor, so a reconnect replays only newer ones.
    AckNotices(AckNotices),
    /// Which videos to receive (a phone in a 60-person meeting takes a few, not 59).
    SelectVideos(VideoChoice),
    /// Receive (and send) audio only, or video again.
    AudioOnly(AudioOnlyRequest),
    /// Ask the server for an ICE restart (it answers with an `offer`).
    RestartIce,
}

impl ClientMsg {
    /// Every `type` a client may send (to tell an unknown type from a malformed one).
    pub const TYPES: &'static [&'static str] = &[
        "join",
        "leave",
        "ping",
        "offer",
        "answer",
        "candidate",
        "mute",
        "raise_hand",
        "lower_hand",
        "chat",
        "host",
        "cast_ballot",
        "ack_notices",
        "select_videos",
        "audio_only",
        "restart_ice",
    ];
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Join {
    pub join_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_token: Option<String>,
    /// The last event `seq` the client saw, when resuming.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seq: Option<u64>,
    /// Join without sending video (weak links).
    #[serde(default)]
    pub audio_only: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Ping {
    /// Client timestamp in ms, echoed in the pong for round-trip measurement.
    pub ts: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Sdp {
    pub sdp: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IceCandidate {
    pub candidate: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdp_mid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdp_mline_index: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Mute {
    pub kind: MediaKind,
    pub muted: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatText {
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CastBallot {
    pub motion_id: String,
    pub choice: VoteChoice,
}

/// Which videos a subscriber receives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum VideoChoice {
    /// Every published video.
    All,
    /// These participants' videos only.
    Only { participants: Vec<String> },
    /// The active speaker and those who spoke last, `count` videos in all.
    Speakers { count: u16 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AudioOnlyRequest {
    pub on: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AckNotices {
    pub cursor: String,
}

/// Host controls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum HostAction {
    MuteOne {
        participant_id: String,
        kind: MediaKind,
    },
    /// Mute everyone; only those listed may unmute themselves afterwards.
    MuteAll {
        #[serde(default)]
        may_unmute: Vec<String>,
    },
    /// Remove a participant; he cannot rejoin this meeting.
    Remove {
        participant_id: String,
    },
    Lock {
        locked: bool,
    },
    /// Send joiners who are not hosts to the waiting room until admitted.
    WaitingRoom {
        enabled: bool,
    },
    Admit {
        participant_id: String,
    },
    Deny {
        participant_id: String,
    },
    GiveFloor {
        participant_id: String,
    },
    /// End the meeting for everyone (closes every open attendance interval).
    EndMeeting,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParticipantRole {
    Host,
    Member,
    Observer,
}

/// A participant as others see him.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Participant {
    pub participant_id: String,
    pub member_id: Option<String>,
    pub name: String,
    pub role: ParticipantRole,
    pub audio_muted: bool,
    pub video_muted: bool,
    pub hand_raised: bool,
    pub has_floor: bool,
    pub audio_only: bool,
    /// Presence proven by flowing media (counts toward quorum).
    pub media_proven: bool,
}

/// The quorum as the host sees it live.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct QuorumState {
    pub expected: u32,
    pub present_voting: u32,
    pub present_in_person: u32,
    pub present_remote: u32,
    pub quorate: bool,
    /// e.g. `2P > E`.
    pub threshold: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RoomState {
    pub meeting_id: String,
    pub title: String,
    pub locked: bool,
    pub participants: Vec<Participant>,
    pub waiting: Vec<Participant>,
    pub quorum: Option<QuorumState>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum ServerMsg {
    Joined(Box<Joined>),
    /// Put in the waiting room until the host admits or denies.
    Waiting,
    /// To hosts: someone waits to be admitted.
    Knocking(Participant),
    ParticipantJoined(Participant),
    ParticipantLeft {
        participant_id: String,
        reason: String,
    },
    ParticipantUpdated(Participant),
    Offer(Sdp),
    Answer(Sdp),
    Candidate(IceCandidate),
    QuorumUpdate(QuorumState),
    VoteOpened {
        motion_id: String,
        title: String,
        kind: String,
    },
    VoteClosed {
        motion_id: String,
        passed: Option<bool>,
        yes: u32,
        no: u32,
        abstain: u32,
    },
    Chat {
        participant_id: String,
        name: String,
        text: String,
        at: String,
    },
    Notice {
        notice_id: String,
        kind: String,
        title: String,
        body: String,
        cursor: String,
    },
    Pong(Ping),
    /// The loudest participant now (from the audio levels of the media).
    ActiveSpeaker {
        participant_id: String,
    },
    /// To one subscriber: he now receives audio only (`on`) or video again; `reason` is
    /// `weak_link`, `recovered` or `requested`.
    AudioOnly {
        on: bool,
        reason: String,
    },
    /// The request with this `id` succeeded and has no other answer.
    Ack,
    /// This session was replaced by a join from another device, removed, or the meeting
    /// ended; the socket closes after it.
    Closed {
        reason: String,
    },
    Error(ErrorFrame),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Joined {
    pub participant_id: String,
    /// Present to resume within the resume window after a dropped socket.
    pub resume_token: String,
    pub resumed: bool,
    pub room: RoomState,
    pub ice_servers: Vec<IceServer>,
}

/// An error answering a request (same `id`), or about the connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorFrame {
    /// Stable snake_case code, as in problem+json.
    pub code: String,
    /// Chinese, for people.
    pub message: String,
}

/// Codes of error frames that only the socket produces. Error frames also carry the REST
/// codes of [`crate::ErrorCode`] with the same meaning (`forbidden`, `not_present`,
/// `already_voted`, `meeting_not_in_progress`, `unauthenticated`, `token_expired`…).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignalCode {
    /// The envelope's `v` is not a version this server speaks; the socket closes.
    UnsupportedVersion,
    /// The frame is JSON but its `type` is not a message of the protocol.
    UnknownMessageType,
    /// The frame is not JSON, or a field is missing, unknown or of the wrong type.
    InvalidMessage,
    /// The frame is larger than the server accepts (`signaling.max_frame_bytes`).
    FrameTooLarge,
    /// Binary frames carry nothing in this protocol.
    BinaryNotSupported,
    /// Too many messages on this connection; slow down.
    RateLimited,
    /// The message needs a joined meeting; send `join` first.
    NotJoined,
    /// This connection is already in a meeting.
    AlreadyJoined,
    /// A host action from someone without the host grant.
    NotHost,
    /// The participant named is not in the room.
    UnknownParticipant,
    /// In the waiting room: only `ping` and `leave` until the host admits.
    Waiting,
    /// After "mute all", only the participants the host listed may unmute themselves.
    UnmuteNotAllowed,
    /// Removed by the host; cannot rejoin this meeting.
    Removed,
    /// The room is locked.
    RoomLocked,
    /// The host denied entry from the waiting room.
    Denied,
    /// The meeting has ended.
    MeetingEnded,
    /// Media negotiation is not available on this server.
    MediaUnavailable,
    /// The participant has no vote (an observer, a host from outside the body).
    NotAVoter,
    /// The account has as many open sockets as allowed; the socket closes.
    TooManyConnections,
    /// Nothing arrived within the heartbeat timeout; the socket closes.
    HeartbeatTimeout,
    /// The join token belongs to another account or device.
    WrongAccount,
}

impl SignalCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnsupportedVersion => "unsupported_version",
            Self::UnknownMessageType => "unknown_message_type",
            Self::InvalidMessage => "invalid_message",
            Self::FrameTooLarge => "frame_too_large",
            Self::BinaryNotSupported => "binary_not_supported",
            Self::RateLimited => "rate_limited",
            Self::NotJoined => "not_joined",
            Self::AlreadyJoined => "already_joined",
            Self::NotHost => "not_host",
            Self::UnknownParticipant => "unknown_participant",
            Self::Waiting => "waiting",
            Self::UnmuteNotAllowed => "unmute_not_allowed",
            Self::Removed => "removed",
            Self::RoomLocked => "room_locked",
            Self::Denied => "denied",
            Self::MeetingEnded => "meeting_ended",
            Self::MediaUnavailable => "media_unavailable",
            Self::NotAVoter => "not_a_voter",
            Self::TooManyConnections => "too_many_connections",
            Self::HeartbeatTimeout => "heartbeat_timeout",
            Self::WrongAccount => "wrong_account",
        }
    }
}

/// WebSocket close codes the server uses (4000–4999 is the application range), with the
/// reason text carrying the stable code.
pub mod close {
    /// Missing, forged, expired or revoked credentials (access or join token).
    pub const UNAUTHENTICATED: u16 = 4001;
    /// Nothing arrived within the heartbeat timeout.
    pub const HEARTBEAT_TIMEOUT: u16 = 4002;
    /// The session ended in the room: replaced by another device, removed, denied, the
    /// meeting ended, or the node stopped.
    pub const SESSION_ENDED: u16 = 4003;
    /// The account has too many open sockets.
    pub const TOO_MANY_CONNECTIONS: u16 = 4008;
    /// The client speaks a protocol version this server does not.
    pub const UNSUPPORTED_VERSION: u16 = 4009;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn round_trip(json: &str) -> ClientFrame {
        let f: ClientFrame = serde_json::from_str(json).unwrap();
        let back = serde_json::to_string(&f).unwrap();
        assert_eq!(serde_json::from_str::<ClientFrame>(&back).unwrap(), f);
        f
    }

    #[test]
    fn client_frames_decode() {
        let f = round_trip(r#"{"v":1,"id":"r1","type":"join","data":{"join_token":"t"}}"#);
        assert_eq!(f.id.as_deref(), Some("r1"));
        assert!(matches!(f.msg, ClientMsg::Join(ref j) if j.join_token == "t" && !j.audio_only));
        let f = round_trip(r#"{"v":1,"type":"raise_hand"}"#);
        assert_eq!(f.msg, ClientMsg::RaiseHand);
        let f = round_trip(
            r#"{"v":1,"id":"2","type":"host","data":{"action":"mute_one","participant_id":"p","kind":"audio"}}"#,
        );
        assert!(matches!(f.msg, ClientMsg::Host(HostAction::MuteOne { .. })));
    }

    #[test]
    fn the_list_of_types_is_the_enum() {
        for t in ClientMsg::TYPES {
            let e =
                serde_json::from_str::<ClientFrame>(&format!(r#"{{"v":1,"type":"{t}","data":7}}"#))
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default();
            assert!(!e.contains("unknown variant"), "{t}: {e}");
        }
        let e = serde_json::from_str::<ClientFrame>(r#"{"v":1,"type":"teleport"}"#).unwrap_err();
        assert!(e.to_string().contains("unknown variant"), "{e}");
        // Every variant is listed: serde names them all in the unknown-variant message.
        for name in e.to_string().split('`').skip(3).step_by(2) {
            assert!(
                ClientMsg::TYPES.contains(&name),
                "{name} missing from TYPES"
            );
        }
    }

    #[test]
    fn bad_frames_are_refused() {
        for bad in [
            r#"{"v":1,"type":"teleport"}"#,
            r#"{"v":1,"type":"join","data":{"join_token":"t","admin":true}}"#,
            r#"{"v":1,"type":"join","data":{}}"#,
            r#"{"v":1,"type":"chat","data":{"text":5}}"#,
            r#"{"type":"leave"}"#,
            r#"[]"#,
        ] {
            assert!(serde_json::from_str::<ClientFrame>(bad).is_err(), "{bad}");
        }
    }
}
