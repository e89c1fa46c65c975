//! `docs/signaling.md` is generated from the types in [`crate::signaling`]: one example of
//! each message, serialized by the real encoder, so the document cannot drift from the
//! wire. The test fails when the file differs; `UPDATE_DOCS=1 cargo test -p hongying-proto`
//! rewrites it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::signaling::*;

fn client(id: Option<&str>, msg: ClientMsg) -> ClientFrame {
    ClientFrame {
        v: PROTOCOL_VERSION,
        id: id.map(str::to_string),
        msg,
    }
}

fn server(id: Option<&str>, seq: Option<u64>, msg: ServerMsg) -> ServerFrame {
    ServerFrame {
        v: PROTOCOL_VERSION,
        id: id.map(str::to_string),
        seq,
        msg,
    }
}

fn participant() -> Participant {
    Participant {
        participant_id: "p-7f3a".into(),
        member_id: Some("0193a0c0-0000-7000-8000-000000000001".into()),
        name: "张东".into(),
        role: ParticipantRole::Member,
        audio_muted: false,
        video_muted: true,
        hand_raised: false,
        has_floor: false,
        audio_only: false,
        media_proven: false,
    }
}

fn quorum() -> QuorumState {
    QuorumState {
        expected: 59,
        present_voting: 30,
        present_in_person: 12,
        present_remote: 18,
        quorate: true,
        threshold: "2P > E".into(),
    }
}

/// The message type as the wire spells it; exhaustive, so a new message must be named here.
fn client_type(m: &ClientMsg) -> &'static str {
    match m {
        ClientMsg::Join(_) => "join",
        ClientMsg::Leave => "leave",
        ClientMsg::Ping(_) => "ping",
        ClientMsg::Offer(_) => "offer",
        ClientMsg::Answer(_) => "answer",
        ClientMsg::Candidate(_) => "candidate",
        ClientMsg::Mute(_) => "mute",
        ClientMsg::RaiseHand => "raise_hand",
        ClientMsg::LowerHand => "lower_hand",
        ClientMsg::Chat(_) => "chat",
        ClientMsg::Host(_) => "host",
        ClientMsg::CastBallot(_) => "cast_ballot",
        ClientMsg::AckNotices(_) => "ack_notices",
        ClientMsg::SelectVideos(_) => "select_videos",
        ClientMsg::AudioOnly(_) => "audio_only",
        ClientMsg::RestartIce => "restart_ice",
    }
}

fn server_type(m: &ServerMsg) -> &'static str {
    match m {
        ServerMsg::Joined(_) => "joined",
        ServerMsg::Waiting => "waiting",
        ServerMsg::Knocking(_) => "knocking",
        ServerMsg::ParticipantJoined(_) => "participant_joined",
        ServerMsg::ParticipantLeft { .. } => "participant_left",
        ServerMsg::ParticipantUpdated(_) => "participant_updated",
        ServerMsg::Offer(_) => "offer",
        ServerMsg::Answer(_) => "answer",
        ServerMsg::Candidate(_) => "candidate",
        ServerMsg::QuorumUpdate(_) => "quorum_update",
        ServerMsg::VoteOpened { .. } => "vote_opened",
        ServerMsg::VoteClosed { .. } => "vote_closed",
        ServerMsg::Chat { .. } => "chat",
        ServerMsg::Notice { .. } => "notice",
        ServerMsg::Pong(_) => "pong",
        ServerMsg::ActiveSpeaker { .. } => "active_speaker",
        ServerMsg::AudioOnly { .. } => "audio_only",
        ServerMsg::Ack => "ack",
        ServerMsg::Closed { .. } => "closed",
        ServerMsg::Error(_) => "error",
    }
}

fn client_examples() -> Vec<ClientFrame> {
    let sdp = || Sdp {
        sdp: "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\n…".into(),
    };
    let host = |a| client(Some("h1"), ClientMsg::Host(a));
    vec![
        client(
            Some("1"),
            ClientMsg::Join(Join {
                join_token: "eyJhbGciOiJFZERTQSIs…".into(),
                resume_token: Some("9b0c…".into()),
                last_seq: Some(41),
                audio_only: false,
            }),
        ),
        client(Some("2"), ClientMsg::Leave),
        client(
            Some("3"),
            ClientMsg::Ping(Ping {
                ts: 1_764_338_400_000,
            }),
        ),
        client(Some("4"), ClientMsg::Offer(sdp())),
        client(Some("5"), ClientMsg::Answer(sdp())),
        client(
            Some("6"),
            ClientMsg::Candidate(IceCandidate {
                candidate: "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host".into(),
                sdp_mid: Some("0".into()),
                sdp_mline_index: Some(0),
            }),
        ),
        client(
            Some("7"),
            ClientMsg::Mute(Mute {
                kind: MediaKind::Audio,
                muted: true,
            }),
        ),
        client(Some("8"), ClientMsg::RaiseHand),
        client(Some("9"), ClientMsg::LowerHand),
        client(
            Some("10"),
            ClientMsg::Chat(ChatText {
                text: "我在柳州，听得清楚。".into(),
            }),
        ),
        host(HostAction::MuteOne {
            participant_id: "p-7f3a".into(),
            kind: MediaKind::Audio,
        }),
        host(HostAction::MuteAll {
            may_unmute: vec!["p-7f3a".into()],
        }),
        host(HostAction::Remove {
            participant_id: "p-7f3a".into(),
        }),
        host(HostAction::Lock { locked: true }),
        host(HostAction::WaitingRoom { enabled: true }),
        host(HostAction::Admit {
            participant_id: "p-7f3a".into(),
        }),
        host(HostAction::Deny {
            participant_id: "p-7f3a".into(),
        }),
        host(HostAction::GiveFloor {
            participant_id: "p-7f3a".into(),
        }),
        host(HostAction::EndMeeting),
        client(
            Some("11"),
            ClientMsg::CastBallot(CastBallot {
                motion_id: "0193a0c0-0000-7000-8000-00000000000a".into(),
                choice: VoteChoice::Yes,
            }),
        ),
        client(
            Some("12"),
            ClientMsg::AckNotices(AckNotices {
                cursor: "0193a0c0-0000-7000-8000-0000000000aa".into(),
            }),
        ),
        client(
            Some("13"),
            ClientMsg::SelectVideos(VideoChoice::Speakers { count: 3 }),
        ),
        client(
            Some("14"),
            ClientMsg::SelectVideos(VideoChoice::Only {
                participants: vec!["p-7f3a".into()],
            }),
        ),
        client(Some("15"), ClientMsg::SelectVideos(VideoChoice::All)),
        client(
            Some("16"),
            ClientMsg::AudioOnly(AudioOnlyRequest { on: true }),
        ),
        client(Some("17"), ClientMsg::RestartIce),
    ]
}

fn server_examples() -> Vec<ServerFrame> {
    let sdp = || Sdp {
        sdp: "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\n…".into(),
    };
    vec![
        server(
            Some("1"),
            Some(41),
            ServerMsg::Joined(Box::new(Joined {
                participant_id: "p-7f3a".into(),
                resume_token: "9b0c…".into(),
                resumed: false,
                room: RoomState {
                    meeting_id: "0193a0c0-0000-7000-8000-0000000000m1".into(),
                    title: "第四季度支部党员大会".into(),
                    locked: false,
                    participants: vec![participant()],
                    waiting: vec![],
                    quorum: Some(quorum()),
                },
                ice_servers: vec![IceServer {
                    urls: vec!["turn:turn.example.org:3478?transport=udp".into()],
                    username: Some("1764342000:p-7f3a".into()),
                    credential: Some("base64-hmac".into()),
                }],
            })),
        ),
        server(Some("1"), None, ServerMsg::Waiting),
        server(None, None, ServerMsg::Knocking(participant())),
        server(None, Some(42), ServerMsg::ParticipantJoined(participant())),
        server(
            None,
            Some(43),
            ServerMsg::ParticipantLeft {
                participant_id: "p-7f3a".into(),
                reason: "timeout".into(),
            },
        ),
        server(None, Some(44), ServerMsg::ParticipantUpdated(participant())),
        server(Some("4"), None, ServerMsg::Answer(sdp())),
        server(None, None, ServerMsg::Offer(sdp())),
        server(
            None,
            None,
            ServerMsg::Candidate(IceCandidate {
                candidate: "candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host".into(),
                sdp_mid: Some("0".into()),
                sdp_mline_index: Some(0),
            }),
        ),
        server(None, None, ServerMsg::QuorumUpdate(quorum())),
        server(
            None,
            Some(45),
            ServerMsg::VoteOpened {
                motion_id: "0193a0c0-0000-7000-8000-00000000000a".into(),
                title: "接收李西为预备党员".into(),
                kind: "admission".into(),
            },
        ),
        server(
            None,
            Some(46),
            ServerMsg::VoteClosed {
                motion_id: "0193a0c0-0000-7000-8000-00000000000a".into(),
                passed: Some(true),
                yes: 41,
                no: 2,
                abstain: 1,
            },
        ),
        server(
            None,
            Some(47),
            ServerMsg::Chat {
                participant_id: "p-7f3a".into(),
                name: "张东".into(),
                text: "我在柳州，听得清楚。".into(),
                at: "2026-12-01T02:05:00Z".into(),
            },
        ),
        server(
            None,
            None,
            ServerMsg::Notice {
                notice_id: "0193a0c0-0000-7000-8000-00000000000n".into(),
                kind: "meeting_started".into(),
                title: "支部党员大会已开始".into(),
                body: "请通过App参会。".into(),
                cursor: "MjAyNi0xMS0yOA".into(),
            },
        ),
        server(
            Some("3"),
            None,
            ServerMsg::Pong(Ping {
                ts: 1_764_338_400_000,
            }),
        ),
        server(
            None,
            Some(43),
            ServerMsg::ActiveSpeaker {
                participant_id: "p-7f3a".into(),
            },
        ),
        server(
            None,
            None,
            ServerMsg::AudioOnly {
                on: true,
                reason: "weak_link".into(),
            },
        ),
        server(Some("8"), None, ServerMsg::Ack),
        server(
            None,
            None,
            ServerMsg::Closed {
                reason: "replaced".into(),
            },
        ),
        server(
            Some("h1"),
            None,
            ServerMsg::Error(ErrorFrame {
                code: "not_host".into(),
                message: "只有主持人可以这样做。".into(),
            }),
        ),
    ]
}

const CONNECTING: &str = "## Connecting\n\n\
`GET /ws` upgrades to a WebSocket. The device authenticates with its access token, as \
`Authorization: Bearer …` or, from a browser, `?access_token=…`. Bad credentials are \
answered on the socket: an `error` frame, then a close frame whose reason is the code. \
`?notices_since=<cursor>` replays the member's notices (or, for an account without a \
member record — a villager, an expert — the account's) after that cursor; without it, \
those after the cursor the device last acknowledged with `ack_notices`. New notices \
arrive live as `notice` frames (at least once: a client drops a `notice_id` it has \
seen).\n\n\
To enter a meeting the device sends `join` with a join token from \
`POST /api/v1/meetings/{id}/join-token` (short-lived, for that meeting only, carrying the \
grants publish/subscribe/host). The meeting must be in progress. A socket is in at most \
one meeting at a time; a second device of the same person takes the participant over \
and the first is closed (`replaced`).\n\n\
A 服务面对面 video consultation is a room of the same protocol: its expert and its asker \
get join tokens from `POST /api/v1/services/consultations/{id}/join-token` (from shortly \
before the booked time to its end), and the room's `meeting_id` is \
`consultation:<id>`. It has no quorum, votes or attendance; the expert holds the host \
grant, and `host` `end_meeting` from him hangs up. The consultation runs from the moment \
both are proven present by their media, and ends when both have left (a `closed` frame \
with reason `consultation_ended` if the room ends while one is still in it).\n\n\
Limits (configuration section `signaling`): the server closes a socket from which \
nothing arrived for `heartbeat_timeout_ms` (default 15 s; the server pings every third \
of it and WebSocket pongs count, so a browser needs no application pings); a text frame \
above `max_frame_bytes` (64 KiB) is refused; `messages_per_second` (20, bursts of 60) \
per connection; `max_connections_per_account` (4).\n\n\
Resume: a socket that dies without `leave` keeps its participant for \
`resume_window_ms` (30 s). Joining again with the `resume_token` of the last `joined` \
and the last `seq` seen gives back the same participant (hand, mutes, floor), the same \
attendance interval, and the events missed, in order. Later, the member joins anew; \
his attendance interval is reopened if he left less than the window ago, else a new \
one opens.\n";

/// Every socket error code; exhaustive through [`describe`].
const SIGNAL_CODES: &[SignalCode] = &[
    SignalCode::UnsupportedVersion,
    SignalCode::UnknownMessageType,
    SignalCode::InvalidMessage,
    SignalCode::FrameTooLarge,
    SignalCode::BinaryNotSupported,
    SignalCode::RateLimited,
    SignalCode::NotJoined,
    SignalCode::AlreadyJoined,
    SignalCode::NotHost,
    SignalCode::UnknownParticipant,
    SignalCode::Waiting,
    SignalCode::UnmuteNotAllowed,
    SignalCode::Removed,
    SignalCode::RoomLocked,
    SignalCode::Denied,
    SignalCode::MeetingEnded,
    SignalCode::MediaUnavailable,
    SignalCode::NotAVoter,
    SignalCode::TooManyConnections,
    SignalCode::HeartbeatTimeout,
    SignalCode::WrongAccount,
];

fn describe(c: SignalCode) -> &'static str {
    match c {
        SignalCode::UnsupportedVersion => "`v` is not 1; the socket closes",
        SignalCode::UnknownMessageType => "`type` is not a message of the protocol",
        SignalCode::InvalidMessage => "not JSON, or a field missing, unknown or mistyped",
        SignalCode::FrameTooLarge => "text frame above `max_frame_bytes`",
        SignalCode::BinaryNotSupported => "binary frames carry nothing here",
        SignalCode::RateLimited => "too many messages on this connection",
        SignalCode::NotJoined => "the message needs a joined meeting",
        SignalCode::AlreadyJoined => "this socket is already in a meeting",
        SignalCode::NotHost => "a host action without the host grant",
        SignalCode::UnknownParticipant => "no such participant in the room",
        SignalCode::Waiting => "in the waiting room: only `ping` and `leave`",
        SignalCode::UnmuteNotAllowed => "after mute-all, only listed participants may unmute",
        SignalCode::Removed => "removed by the host; cannot rejoin this meeting",
        SignalCode::RoomLocked => "the room is locked",
        SignalCode::Denied => "the host denied entry",
        SignalCode::MeetingEnded => "the meeting has ended",
        SignalCode::MediaUnavailable => "media negotiation is not available",
        SignalCode::NotAVoter => "an observer or outside host has no vote",
        SignalCode::TooManyConnections => "the account's socket quota is full; the socket closes",
        SignalCode::HeartbeatTimeout => "nothing arrived in time; the socket closes",
        SignalCode::WrongAccount => "the join token is another account's or device's",
    }
}

#[test]
fn every_code_is_documented_once() {
    let names: std::collections::HashSet<&str> = SIGNAL_CODES.iter().map(|c| c.as_str()).collect();
    assert_eq!(names.len(), SIGNAL_CODES.len());
    // serde spells each code as as_str does.
    for c in SIGNAL_CODES {
        assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
    }
    // serde's unknown-variant message names every variant: each must be listed.
    let e = serde_json::from_str::<SignalCode>("\"zzz\"")
        .unwrap_err()
        .to_string();
    for name in e.split('`').skip(3).step_by(2) {
        assert!(names.contains(name), "{name} missing from SIGNAL_CODES");
    }
}

fn render() -> String {
    let mut out = String::from(
        "# Signaling protocol (generated)\n\n\
         Generated from `proto/src/signaling.rs` by `proto/src/signaling_doc.rs`; do not edit by \
         hand (`UPDATE_DOCS=1 cargo test -p hongying-proto` regenerates it).\n\n\
         Every frame on the signaling socket is a JSON text frame `{\"v\": 1, \"id\": …, \"type\": …, \"data\": …}`. \
         `id` is the client's request id, echoed on the answer (`ack`, a specific answer, or \
         `error`). Room events carry `seq`; a client resuming with `last_seq` receives the \
         events after it, in order. Unknown types and unknown fields are refused.\n\n",
    );
    out.push_str(CONNECTING);
    out.push_str("\n## Error codes of the socket\n\n| code | meaning |\n|---|---|\n");
    for c in SIGNAL_CODES {
        out.push_str(&format!("| `{}` | {} |\n", c.as_str(), describe(*c)));
    }
    out.push_str(
        "\nError frames also carry the REST codes (`forbidden`, `not_found`, `not_present`, \
         `already_voted`, `motion_closed`, `meeting_not_in_progress`, `unauthenticated`, \
         `token_expired`, `invalid_cursor`…) with the meaning they have in problem+json.\n\n\
         Media negotiation (`offer`, `answer`, `candidate`) is answered with the media \
         engine's codes: `bad_sdp`, `bad_candidate`, `unexpected_answer` (no server offer is \
         pending), `media_failed`, `media_closed`. Codecs are Opus (with the RFC 6464 \
         audio-level extension) and VP8, in whatever payload numbering the client's stack \
         uses: the server sends each receiver the payload types and extension ids of his own \
         description. A description with no Opus or no VP8 gets, unasked (no `id`), one \
         `error` frame `no_common_codec`: that device receives nothing of that kind.\n\n\
         | close code | reason (the stable code) |\n|---|---|\n",
    );
    for (code, reason) in [
        (
            close::UNAUTHENTICATED,
            "`unauthenticated`, `token_expired`, `wrong_account`",
        ),
        (close::HEARTBEAT_TIMEOUT, "`heartbeat_timeout`"),
        (
            close::SESSION_ENDED,
            "`replaced`, `removed`, `denied`, `meeting_ended`, `server_shutdown`",
        ),
        (close::TOO_MANY_CONNECTIONS, "`too_many_connections`"),
        (close::UNSUPPORTED_VERSION, "`unsupported_version`"),
        (1009, "`frame_too_large` (a frame far beyond the limit)"),
    ] {
        out.push_str(&format!("| {code} | {reason} |\n"));
    }
    out.push_str("\n## Client → server\n");
    for f in client_examples() {
        let extra = match &f.msg {
            ClientMsg::Host(a) => format!(
                " / `{}`",
                serde_json::to_value(a).unwrap()["action"].as_str().unwrap()
            ),
            _ => String::new(),
        };
        out.push_str(&format!(
            "\n### `{}`{extra}\n\n```json\n{}\n```\n",
            client_type(&f.msg),
            serde_json::to_string(&f).unwrap()
        ));
    }
    out.push_str("\n## Server → client\n");
    for f in server_examples() {
        out.push_str(&format!(
            "\n### `{}`\n\n```json\n{}\n```\n",
            server_type(&f.msg),
            serde_json::to_string(&f).unwrap()
        ));
    }
    out
}

#[test]
fn every_example_round_trips() {
    for f in client_examples() {
        let json = serde_json::to_string(&f).unwrap();
        assert_eq!(
            serde_json::from_str::<ClientFrame>(&json).unwrap(),
            f,
            "{json}"
        );
    }
    for f in server_examples() {
        let json = serde_json::to_string(&f).unwrap();
        assert_eq!(
            serde_json::from_str::<ServerFrame>(&json).unwrap(),
            f,
            "{json}"
        );
    }
}

#[test]
fn the_protocol_document_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/signaling.md");
    let want = render();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(path, &want).unwrap();
    }
    let have = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        have == want,
        "docs/signaling.md is stale: run UPDATE_DOCS=1 cargo test -p hongying-proto"
    );
}
