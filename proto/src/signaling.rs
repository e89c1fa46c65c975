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

/// Answer of `POST /api/v1/meetings/{id}/join-token`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JoinTokenResponse {
    /// A short-lived JWT for this meeting only; send it in the `join` message.
    pub token: String,
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
    Joined(Joined),
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
