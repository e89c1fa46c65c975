//! Decoding a client's text frame: a pure function of the text and the frame limit, so
//! the socket, the property tests and the fuzz target (`fuzz/`) all run the same code.
//! It lives in this small crate (not in the server) so the fuzz target builds without
//! the server's database stack.

use hongying_proto::signaling::{ClientFrame, ClientMsg, PROTOCOL_VERSION, SignalCode};

/// Why a frame was refused: the code, the request id if one could be read, and a
/// message for the client (Chinese, as every error detail).
pub type Refusal = (SignalCode, Option<String>, String);

/// Decodes one text frame. Never panics; a refusal carries one of `frame_too_large`,
/// `invalid_message`, `unknown_message_type` or `unsupported_version`.
pub fn decode(text: &str, max_frame_bytes: usize) -> Result<ClientFrame, Refusal> {
    if text.len() > max_frame_bytes {
        return Err((
            SignalCode::FrameTooLarge,
            None,
            format!(
                "消息过大（{} 字节，上限 {max_frame_bytes} 字节）。",
                text.len()
            ),
        ));
    }
    let f: ClientFrame = serde_json::from_str(text).map_err(|e| diagnose(text, &e))?;
    if f.v != PROTOCOL_VERSION {
        return Err((
            SignalCode::UnsupportedVersion,
            f.id,
            format!(
                "不支持协议版本 {}，本服务器使用版本 {PROTOCOL_VERSION}。",
                f.v
            ),
        ));
    }
    Ok(f)
}

/// Why a text frame could not be decoded, as precisely as the client deserves.
fn diagnose(text: &str, err: &serde_json::Error) -> Refusal {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
        return (
            SignalCode::InvalidMessage,
            None,
            "消息不是有效的 JSON。".into(),
        );
    };
    let id = value.get("id").and_then(|v| v.as_str()).map(str::to_string);
    let Some(obj) = value.as_object() else {
        return (
            SignalCode::InvalidMessage,
            id,
            "消息应为 JSON 对象：{\"v\":1,\"type\":…}。".into(),
        );
    };
    match obj.get("v").and_then(serde_json::Value::as_u64) {
        None => {
            return (
                SignalCode::InvalidMessage,
                id,
                "消息缺少协议版本 v。".into(),
            );
        }
        Some(v) if v != u64::from(PROTOCOL_VERSION) => {
            return (
                SignalCode::UnsupportedVersion,
                id,
                format!("不支持协议版本 {v}，本服务器使用版本 {PROTOCOL_VERSION}。"),
            );
        }
        Some(_) => {}
    }
    match obj.get("type").and_then(|t| t.as_str()) {
        None => (SignalCode::InvalidMessage, id, "消息缺少类型 type。".into()),
        Some(t) if !ClientMsg::TYPES.contains(&t) => (
            SignalCode::UnknownMessageType,
            id,
            format!("未知的消息类型：{t}。"),
        ),
        Some(t) => (
            SignalCode::InvalidMessage,
            id,
            format!("消息 {t} 的字段有误：{err}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use hongying_proto::signaling::{
        AckNotices, CastBallot, ChatText, HostAction, IceCandidate, Join, MediaKind, Mute, Ping,
        Sdp, VoteChoice,
    };
    use proptest::prelude::*;

    const LIMIT: usize = 64 * 1024;

    /// The codes `decode` may refuse with (docs/signaling.md documents each).
    const DECODE_CODES: [SignalCode; 4] = [
        SignalCode::FrameTooLarge,
        SignalCode::InvalidMessage,
        SignalCode::UnknownMessageType,
        SignalCode::UnsupportedVersion,
    ];

    fn text() -> impl Strategy<Value = String> {
        // Unicode, control characters, quotes and braces included.
        "\\PC{0,40}|[\\x00-\\x7f\u{4e00}-\u{4e10}\"{}\\[\\]:,\\\\]{0,60}"
    }

    fn kind() -> impl Strategy<Value = MediaKind> {
        prop_oneof![Just(MediaKind::Audio), Just(MediaKind::Video)]
    }

    fn host_action() -> impl Strategy<Value = HostAction> {
        prop_oneof![
            (text(), kind()).prop_map(|(participant_id, kind)| HostAction::MuteOne {
                participant_id,
                kind
            }),
            proptest::collection::vec(text(), 0..4)
                .prop_map(|may_unmute| HostAction::MuteAll { may_unmute }),
            text().prop_map(|participant_id| HostAction::Remove { participant_id }),
            any::<bool>().prop_map(|locked| HostAction::Lock { locked }),
            any::<bool>().prop_map(|enabled| HostAction::WaitingRoom { enabled }),
            text().prop_map(|participant_id| HostAction::Admit { participant_id }),
            text().prop_map(|participant_id| HostAction::Deny { participant_id }),
            text().prop_map(|participant_id| HostAction::GiveFloor { participant_id }),
            Just(HostAction::EndMeeting),
        ]
    }

    fn client_msg() -> impl Strategy<Value = ClientMsg> {
        prop_oneof![
            (
                text(),
                proptest::option::of(text()),
                proptest::option::of(any::<u64>()),
                any::<bool>()
            )
                .prop_map(|(join_token, resume_token, last_seq, audio_only)| {
                    ClientMsg::Join(Join {
                        join_token,
                        resume_token,
                        last_seq,
                        audio_only,
                    })
                }),
            Just(ClientMsg::Leave),
            any::<u64>().prop_map(|ts| ClientMsg::Ping(Ping { ts })),
            text().prop_map(|sdp| ClientMsg::Offer(Sdp { sdp })),
            text().prop_map(|sdp| ClientMsg::Answer(Sdp { sdp })),
            (
                text(),
                proptest::option::of(text()),
                proptest::option::of(any::<u16>())
            )
                .prop_map(|(candidate, sdp_mid, sdp_mline_index)| {
                    ClientMsg::Candidate(IceCandidate {
                        candidate,
                        sdp_mid,
                        sdp_mline_index,
                    })
                }),
            (kind(), any::<bool>()).prop_map(|(kind, muted)| ClientMsg::Mute(Mute { kind, muted })),
            Just(ClientMsg::RaiseHand),
            Just(ClientMsg::LowerHand),
            text().prop_map(|text| ClientMsg::Chat(ChatText { text })),
            host_action().prop_map(ClientMsg::Host),
            (
                text(),
                prop_oneof![
                    Just(VoteChoice::Yes),
                    Just(VoteChoice::No),
                    Just(VoteChoice::Abstain)
                ]
            )
                .prop_map(|(motion_id, choice)| ClientMsg::CastBallot(CastBallot {
                    motion_id,
                    choice
                })),
            text().prop_map(|cursor| ClientMsg::AckNotices(AckNotices { cursor })),
        ]
    }

    fn client_frame() -> impl Strategy<Value = ClientFrame> {
        (proptest::option::of(text()), client_msg()).prop_map(|(id, msg)| ClientFrame {
            v: PROTOCOL_VERSION,
            id,
            msg,
        })
    }

    /// Whatever came out, it is a frame of this version or a refusal with a documented code.
    fn check(text: &str) -> Result<(), TestCaseError> {
        match decode(text, LIMIT) {
            Ok(f) => prop_assert_eq!(f.v, PROTOCOL_VERSION),
            Err((code, _, message)) => {
                prop_assert!(DECODE_CODES.contains(&code), "{code:?}");
                prop_assert!(!message.is_empty());
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn any_string_decodes_or_is_refused_with_a_documented_code(s in "\\PC{0,200}") {
            check(&s)?;
        }

        #[test]
        fn any_bytes_as_lossy_text_never_panic(b in proptest::collection::vec(any::<u8>(), 0..300)) {
            check(&String::from_utf8_lossy(&b))?;
        }

        #[test]
        fn every_well_formed_frame_round_trips(f in client_frame()) {
            let text = serde_json::to_string(&f).unwrap();
            prop_assert_eq!(decode(&text, LIMIT), Ok(f));
        }

        /// Truncated, spliced or corrupted frames: still no panic, still a documented code,
        /// and a request id that survived is echoed.
        #[test]
        fn mangled_frames_are_refused_cleanly(
            f in client_frame(),
            cut in any::<prop::sample::Index>(),
            junk in text(),
        ) {
            let text = serde_json::to_string(&f).unwrap();
            let mut at = cut.index(text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            check(&text[..at])?;
            check(&format!("{}{junk}{}", &text[..at], &text[at..]))?;
        }

        #[test]
        fn other_versions_are_refused_with_the_id(v in 2u64..100_000, id in "[a-z0-9]{1,8}") {
            let text = format!(r#"{{"v":{v},"id":"{id}","type":"leave"}}"#);
            let (code, got, _) = decode(&text, LIMIT).unwrap_err();
            prop_assert_eq!(code, SignalCode::UnsupportedVersion);
            prop_assert_eq!(got, Some(id));
        }

        #[test]
        fn frames_over_the_limit_are_too_large(f in client_frame(), limit in 0usize..64) {
            let text = serde_json::to_string(&f).unwrap();
            prop_assume!(text.len() > limit);
            prop_assert_eq!(decode(&text, limit).unwrap_err().0, SignalCode::FrameTooLarge);
        }
    }

    #[test]
    fn each_refusal_has_its_code() {
        let code = |t: &str| decode(t, LIMIT).unwrap_err().0;
        assert_eq!(code("{"), SignalCode::InvalidMessage);
        assert_eq!(code("[]"), SignalCode::InvalidMessage);
        assert_eq!(code(r#"{"type":"leave"}"#), SignalCode::InvalidMessage);
        assert_eq!(code(r#"{"v":1}"#), SignalCode::InvalidMessage);
        assert_eq!(
            code(r#"{"v":1,"type":"teleport"}"#),
            SignalCode::UnknownMessageType
        );
        assert_eq!(
            code(r#"{"v":1,"type":"chat","data":{"text":5}}"#),
            SignalCode::InvalidMessage
        );
        assert_eq!(
            code(r#"{"v":0,"type":"leave"}"#),
            SignalCode::UnsupportedVersion
        );
        assert_eq!(
            decode(r#"{"v":1,"type":"leave"}"#, 5).unwrap_err().0,
            SignalCode::FrameTooLarge
        );
        let (_, id, _) = decode(r#"{"v":1,"id":"r7","type":"teleport"}"#, LIMIT).unwrap_err();
        assert_eq!(id.as_deref(), Some("r7"));
    }
}
