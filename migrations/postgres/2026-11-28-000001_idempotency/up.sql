-- Responses remembered per (principal, Idempotency-Key), so a retry from a phone on a
-- weak link replays the first answer instead of doing the work again.
CREATE TABLE idempotency_keys (
    principal        TEXT      NOT NULL,
    idem_key         TEXT      NOT NULL,
    fingerprint      TEXT      NOT NULL,
    state            TEXT      NOT NULL CHECK (state IN ('pending', 'done')),
    status_code      INTEGER,
    response_headers TEXT,
    response_body    BYTEA,
    created_at       TIMESTAMP NOT NULL,
    locked_until     TIMESTAMP NOT NULL,
    expires_at       TIMESTAMP NOT NULL,
    PRIMARY KEY (principal, idem_key)
);
CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);
