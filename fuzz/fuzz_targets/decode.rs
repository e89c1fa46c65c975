//! Any bytes, as the text of a frame, through the socket's decoder: it must never panic,
//! and it yields a frame of this protocol version or a refusal with a documented code.
#![no_main]

use hongying_proto::signaling::{PROTOCOL_VERSION, SignalCode};
use hongying_signaling::decode::decode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for limit in [64 * 1024, 16] {
        match decode(text, limit) {
            Ok(f) => {
                assert_eq!(f.v, PROTOCOL_VERSION);
                // A decoded frame encodes and decodes to itself.
                let again = serde_json::to_string(&f).map(|t| decode(&t, usize::MAX));
                assert!(matches!(again, Ok(Ok(ref g)) if *g == f), "{text:?}");
            }
            Err((code, _, message)) => {
                assert!(matches!(
                    code,
                    SignalCode::FrameTooLarge
                        | SignalCode::InvalidMessage
                        | SignalCode::UnknownMessageType
                        | SignalCode::UnsupportedVersion
                ));
                assert!(!message.is_empty());
            }
        }
    }
});
