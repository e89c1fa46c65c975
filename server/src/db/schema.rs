//! Table definitions shared by both backends. Only column types both support: ids and
//! enums as Text, UTC Timestamp, JSON as Text, bytes as Binary.

diesel::table! {
    idempotency_keys (principal, idem_key) {
        principal -> Text,
        idem_key -> Text,
        fingerprint -> Text,
        state -> Text,
        status_code -> Nullable<Integer>,
        response_headers -> Nullable<Text>,
        response_body -> Nullable<Binary>,
        created_at -> Timestamp,
        locked_until -> Timestamp,
        expires_at -> Timestamp,
    }
}
