-- Live notices over the /ws socket: how far each device (session family) has
-- acknowledged, so a reconnect replays only what it has not seen; and the index the
-- live feed polls by.
CREATE TABLE notice_cursors (
    session_id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL,
    cursor TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX notices_created ON notices (created_at);
