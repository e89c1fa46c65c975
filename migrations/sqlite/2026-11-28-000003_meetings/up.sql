-- 三会一课: meetings, their roster snapshot, exclusions, attendance intervals, motions and
-- votes, the minutes record, attachments, member notices and the compliance rule tables.

CREATE TABLE meetings (
    id                 TEXT      PRIMARY KEY,
    org_id             TEXT      NOT NULL REFERENCES organizations (id),
    kind               TEXT      NOT NULL CHECK (kind IN ('congress', 'committee', 'party_group', 'lecture', 'theme_day', 'life_meeting', 'democratic_review')),
    -- For life_meeting / democratic_review: the body it is held as (congress, committee, party_group).
    held_as            TEXT      CHECK (held_as IS NULL OR held_as IN ('congress', 'committee', 'party_group')),
    title              TEXT      NOT NULL,
    agenda_json        TEXT      NOT NULL DEFAULT '[]',
    scheduled_start    TIMESTAMP NOT NULL,
    scheduled_end      TIMESTAMP NOT NULL,
    place              TEXT,
    mode               TEXT      NOT NULL CHECK (mode IN ('in_person', 'video', 'hybrid')),
    host_member_id     TEXT      REFERENCES members (id),
    recorder_member_id TEXT      REFERENCES members (id),
    lecturer           TEXT,
    status             TEXT      NOT NULL CHECK (status IN ('draft', 'scheduled', 'in_progress', 'ended', 'minutes_submitted', 'reviewed', 'cancelled')),
    cancel_reason      TEXT,
    started_at         TIMESTAMP,
    ended_at           TIMESTAMP,
    -- The thresholds in force when the meeting started (strict/inclusive per rule).
    thresholds_json    TEXT,
    created_by         TEXT      NOT NULL,
    created_at         TIMESTAMP NOT NULL,
    updated_at         TIMESTAMP NOT NULL,
    version            INTEGER   NOT NULL DEFAULT 1
);
CREATE INDEX meetings_org_start ON meetings (org_id, scheduled_start);
CREATE INDEX meetings_status ON meetings (status);

CREATE TABLE meeting_observers (
    id         TEXT      PRIMARY KEY,
    meeting_id TEXT      NOT NULL REFERENCES meetings (id),
    kind       TEXT      NOT NULL CHECK (kind IN ('activist', 'masses', 'guest')),
    name       TEXT      NOT NULL,
    member_id  TEXT      REFERENCES members (id),
    account_id TEXT      REFERENCES accounts (id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX meeting_observers_meeting ON meeting_observers (meeting_id);

-- Who belonged to the meeting's body when it started, with the status that decides
-- their voting right (QUORUM.md), frozen so later changes cannot rewrite the record.
CREATE TABLE meeting_roster (
    meeting_id    TEXT    NOT NULL REFERENCES meetings (id),
    member_id     TEXT    NOT NULL REFERENCES members (id),
    name          TEXT    NOT NULL,
    quorum_status TEXT    NOT NULL CHECK (quorum_status IN ('full', 'probationary', 'full_on_probation_discipline', 'full_rights_suspended', 'stopped', 'temporary')),
    is_committee  BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (meeting_id, member_id)
);

CREATE TABLE meeting_exclusions (
    id                    TEXT      PRIMARY KEY,
    meeting_id            TEXT      NOT NULL REFERENCES meetings (id),
    member_id             TEXT      NOT NULL REFERENCES members (id),
    reason                TEXT      NOT NULL CHECK (reason IN ('ill', 'abroad_half_year', 'serving_sentence', 'bedridden', 'away_half_year_not_transferred', 'retired_living_back_home', 'migrant_applied')),
    note                  TEXT,
    upper_approved_by     TEXT,
    upper_approved_at     TIMESTAMP,
    congress_approved_by  TEXT,
    congress_approved_at  TIMESTAMP,
    rejected_by           TEXT,
    rejected_at           TIMESTAMP,
    created_by            TEXT      NOT NULL,
    created_at            TIMESTAMP NOT NULL,
    UNIQUE (meeting_id, member_id)
);

-- Presence as intervals: leaving and coming back adds rows, nothing is overwritten.
CREATE TABLE attendance_intervals (
    id            TEXT      PRIMARY KEY,
    meeting_id    TEXT      NOT NULL REFERENCES meetings (id),
    member_id     TEXT      NOT NULL REFERENCES members (id),
    mode          TEXT      NOT NULL CHECK (mode IN ('in_person', 'remote')),
    source        TEXT      NOT NULL CHECK (source IN ('secretary', 'qr', 'signaling')),
    media_proven  BOOLEAN   NOT NULL DEFAULT FALSE,
    opened_at     TIMESTAMP NOT NULL,
    last_seen_at  TIMESTAMP NOT NULL,
    closed_at     TIMESTAMP,
    close_reason  TEXT,
    recorded_by   TEXT
);
CREATE INDEX attendance_intervals_meeting ON attendance_intervals (meeting_id, member_id, opened_at);
CREATE INDEX attendance_intervals_open ON attendance_intervals (closed_at);

-- Absentees with their reason (请假 etc.) for the record.
CREATE TABLE meeting_absences (
    meeting_id  TEXT      NOT NULL REFERENCES meetings (id),
    member_id   TEXT      NOT NULL REFERENCES members (id),
    reason      TEXT      NOT NULL CHECK (reason IN ('leave', 'sick', 'work', 'away', 'other')),
    note        TEXT,
    recorded_by TEXT      NOT NULL,
    recorded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (meeting_id, member_id)
);

CREATE TABLE motions (
    id                  TEXT      PRIMARY KEY,
    meeting_id          TEXT      NOT NULL REFERENCES meetings (id),
    kind                TEXT      NOT NULL CHECK (kind IN ('ordinary', 'admission', 'regularization', 'probation_extension', 'election')),
    title               TEXT      NOT NULL,
    candidate_member_id TEXT      REFERENCES members (id),
    seats               INTEGER,
    voting_method       TEXT      NOT NULL CHECK (voting_method IN ('app', 'show_of_hands', 'secret_ballot')),
    status              TEXT      NOT NULL CHECK (status IN ('draft', 'open', 'closed')),
    opened_at           TIMESTAMP,
    closed_at           TIMESTAMP,
    quorum_at_open_json TEXT,
    quorum_at_close_json TEXT,
    result_json         TEXT,
    created_by          TEXT      NOT NULL,
    created_at          TIMESTAMP NOT NULL
);
CREATE INDEX motions_meeting ON motions (meeting_id);

CREATE TABLE election_candidates (
    id        TEXT    PRIMARY KEY,
    motion_id TEXT    NOT NULL REFERENCES motions (id),
    name      TEXT    NOT NULL,
    member_id TEXT    REFERENCES members (id),
    position  INTEGER NOT NULL
);
CREATE INDEX election_candidates_motion ON election_candidates (motion_id);

-- Written opinions of absent voting members, handed in before the meeting (admission kinds).
CREATE TABLE written_opinions (
    id            TEXT      PRIMARY KEY,
    motion_id     TEXT      NOT NULL REFERENCES motions (id),
    member_id     TEXT      NOT NULL REFERENCES members (id),
    choice        TEXT      NOT NULL CHECK (choice IN ('yes', 'no', 'abstain')),
    registered_by TEXT      NOT NULL,
    registered_at TIMESTAMP NOT NULL,
    UNIQUE (motion_id, member_id)
);

-- One ballot per member per motion; the unique key makes a second vote impossible even
-- under a race. For elections, choices_json holds the per-candidate marks.
CREATE TABLE ballots (
    id           TEXT      PRIMARY KEY,
    motion_id    TEXT      NOT NULL REFERENCES motions (id),
    member_id    TEXT      NOT NULL REFERENCES members (id),
    choice       TEXT      CHECK (choice IS NULL OR choice IN ('yes', 'no', 'abstain')),
    choices_json TEXT,
    channel      TEXT      NOT NULL CHECK (channel IN ('app', 'socket', 'tally')),
    cast_at      TIMESTAMP NOT NULL,
    UNIQUE (motion_id, member_id)
);

-- A show-of-hands count entered by the secretary.
CREATE TABLE motion_tallies (
    motion_id   TEXT      PRIMARY KEY REFERENCES motions (id),
    yes         INTEGER   NOT NULL,
    no          INTEGER   NOT NULL,
    abstain     INTEGER   NOT NULL,
    entered_by  TEXT      NOT NULL,
    entered_at  TIMESTAMP NOT NULL
);

CREATE TABLE minutes (
    meeting_id         TEXT      PRIMARY KEY REFERENCES meetings (id),
    summary            TEXT,
    resolutions_json   TEXT      NOT NULL DEFAULT '[]',
    host_signed_by     TEXT,
    host_signed_at     TIMESTAMP,
    recorder_signed_by TEXT,
    recorder_signed_at TIMESTAMP,
    submitted_by       TEXT,
    submitted_at       TIMESTAMP,
    reviewed_by        TEXT,
    reviewed_at        TIMESTAMP,
    review_comment     TEXT,
    updated_at         TIMESTAMP NOT NULL
);

-- Speakers' points, one by one, as they were recorded.
CREATE TABLE minute_points (
    id                TEXT      PRIMARY KEY,
    meeting_id        TEXT      NOT NULL REFERENCES meetings (id),
    seq               INTEGER   NOT NULL,
    speaker_member_id TEXT      REFERENCES members (id),
    speaker_name      TEXT      NOT NULL,
    agenda_item       INTEGER,
    text              TEXT      NOT NULL,
    recorded_by       TEXT      NOT NULL,
    created_at        TIMESTAMP NOT NULL,
    UNIQUE (meeting_id, seq)
);

CREATE TABLE attachments (
    id           TEXT      PRIMARY KEY,
    owner_type   TEXT      NOT NULL,
    owner_id     TEXT      NOT NULL,
    filename     TEXT      NOT NULL,
    content_type TEXT      NOT NULL,
    size_bytes   BIGINT    NOT NULL,
    sha256       TEXT      NOT NULL,
    storage_key  TEXT      NOT NULL,
    uploaded_by  TEXT      NOT NULL,
    created_at   TIMESTAMP NOT NULL
);
CREATE INDEX attachments_owner ON attachments (owner_type, owner_id);

-- Notices to members (meeting scheduled, rescheduled, cancelled, started; orders later).
CREATE TABLE notices (
    id          TEXT      PRIMARY KEY,
    member_id   TEXT      NOT NULL REFERENCES members (id),
    kind        TEXT      NOT NULL,
    title       TEXT      NOT NULL,
    body        TEXT      NOT NULL,
    ref_type    TEXT,
    ref_id      TEXT,
    created_at  TIMESTAMP NOT NULL,
    read_at     TIMESTAMP
);
CREATE INDEX notices_member ON notices (member_id, id);

-- Versioned compliance rules per locality (an organization and its subtree).
CREATE TABLE compliance_rules (
    id             TEXT      PRIMARY KEY,
    org_id         TEXT      REFERENCES organizations (id),
    version        INTEGER   NOT NULL,
    rules_json     TEXT      NOT NULL,
    effective_from DATE      NOT NULL,
    created_by     TEXT      NOT NULL,
    created_at     TIMESTAMP NOT NULL
);
CREATE INDEX compliance_rules_org ON compliance_rules (org_id, effective_from);
