-- 服务面对面: experts, their serving areas, questions routed to them, the answer thread,
-- FAQ entries, consultation slots and consultations; notices addressed to accounts that
-- have no member record (public askers, experts, staff).

CREATE TABLE service_experts (
    id                TEXT      PRIMARY KEY,
    account_id        TEXT      NOT NULL UNIQUE REFERENCES accounts (id),
    org_id            TEXT      NOT NULL REFERENCES organizations (id),
    name              TEXT      NOT NULL,
    field             TEXT      NOT NULL,
    specialities_json TEXT      NOT NULL,
    availability_json TEXT      NOT NULL,
    status            TEXT      NOT NULL CHECK (status IN ('pending', 'enabled', 'disabled')),
    verified_at       TIMESTAMP,
    verified_by       TEXT,
    created_by        TEXT      NOT NULL,
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL,
    version           INTEGER   NOT NULL DEFAULT 1
);
CREATE INDEX service_experts_org ON service_experts (org_id);

CREATE TABLE service_expert_areas (
    expert_id TEXT NOT NULL REFERENCES service_experts (id),
    org_id    TEXT NOT NULL REFERENCES organizations (id),
    PRIMARY KEY (expert_id, org_id)
);
CREATE INDEX service_expert_areas_org ON service_expert_areas (org_id);

CREATE TABLE service_questions (
    id                 TEXT      PRIMARY KEY,
    asker_account_id   TEXT      NOT NULL REFERENCES accounts (id),
    category           TEXT      NOT NULL,
    text               TEXT      NOT NULL,
    area_org_id        TEXT      NOT NULL REFERENCES organizations (id),
    urgency            TEXT      NOT NULL CHECK (urgency IN ('normal', 'urgent')),
    status             TEXT      NOT NULL CHECK (status IN ('open', 'escalated', 'accepted', 'closed')),
    assigned_expert_id TEXT      REFERENCES service_experts (id),
    accepted_at        TIMESTAMP,
    first_answer_at    TIMESTAMP,
    last_activity_at   TIMESTAMP NOT NULL,
    escalated_at       TIMESTAMP,
    closed_at          TIMESTAMP,
    close_reason       TEXT,
    rating             INTEGER,
    rating_comment     TEXT,
    rated_at           TIMESTAMP,
    created_at         TIMESTAMP NOT NULL,
    updated_at         TIMESTAMP NOT NULL,
    version            INTEGER   NOT NULL DEFAULT 1
);
CREATE INDEX service_questions_asker ON service_questions (asker_account_id);
CREATE INDEX service_questions_area ON service_questions (area_org_id, category);
CREATE INDEX service_questions_status ON service_questions (status, created_at);

CREATE TABLE service_question_routes (
    question_id TEXT      NOT NULL REFERENCES service_questions (id),
    expert_id   TEXT      NOT NULL REFERENCES service_experts (id),
    distance    INTEGER   NOT NULL,
    status      TEXT      NOT NULL CHECK (status IN ('offered', 'declined', 'withdrawn')),
    created_at  TIMESTAMP NOT NULL,
    decided_at  TIMESTAMP,
    PRIMARY KEY (question_id, expert_id)
);
CREATE INDEX service_question_routes_expert ON service_question_routes (expert_id, status);

CREATE TABLE service_messages (
    id                TEXT      PRIMARY KEY,
    question_id       TEXT      NOT NULL REFERENCES service_questions (id),
    author_account_id TEXT      NOT NULL,
    author_role       TEXT      NOT NULL CHECK (author_role IN ('asker', 'expert')),
    text              TEXT      NOT NULL,
    created_at        TIMESTAMP NOT NULL
);
CREATE INDEX service_messages_question ON service_messages (question_id, created_at);

CREATE TABLE service_faqs (
    id            TEXT      PRIMARY KEY,
    question_id   TEXT      NOT NULL UNIQUE REFERENCES service_questions (id),
    area_org_id   TEXT      NOT NULL REFERENCES organizations (id),
    category      TEXT      NOT NULL,
    question_text TEXT      NOT NULL,
    answer_text   TEXT      NOT NULL,
    published_by  TEXT      NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);
CREATE INDEX service_faqs_area ON service_faqs (area_org_id);

CREATE TABLE service_slots (
    id         TEXT      PRIMARY KEY,
    expert_id  TEXT      NOT NULL REFERENCES service_experts (id),
    starts_at  TIMESTAMP NOT NULL,
    ends_at    TIMESTAMP NOT NULL,
    status     TEXT      NOT NULL CHECK (status IN ('open', 'booked', 'withdrawn')),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX service_slots_expert ON service_slots (expert_id, starts_at);

CREATE TABLE service_consultations (
    id               TEXT      PRIMARY KEY,
    question_id      TEXT      NOT NULL REFERENCES service_questions (id),
    slot_id          TEXT      NOT NULL REFERENCES service_slots (id),
    expert_id        TEXT      NOT NULL REFERENCES service_experts (id),
    asker_account_id TEXT      NOT NULL REFERENCES accounts (id),
    starts_at        TIMESTAMP NOT NULL,
    ends_at          TIMESTAMP NOT NULL,
    status           TEXT      NOT NULL CHECK (status IN ('booked', 'in_progress', 'completed', 'cancelled')),
    started_at       TIMESTAMP,
    ended_at         TIMESTAMP,
    duration_seconds BIGINT,
    cancelled_by     TEXT,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL
);
CREATE INDEX service_consultations_question ON service_consultations (question_id);
-- One live booking per slot: the second of two concurrent bookings fails here even if
-- it got past the slot's conditional update.
CREATE UNIQUE INDEX service_consultations_live_slot ON service_consultations (slot_id)
    WHERE status <> 'cancelled';

CREATE TABLE account_notices (
    id         TEXT      PRIMARY KEY,
    account_id TEXT      NOT NULL REFERENCES accounts (id),
    kind       TEXT      NOT NULL,
    title      TEXT      NOT NULL,
    body       TEXT      NOT NULL,
    ref_type   TEXT,
    ref_id     TEXT,
    created_at TIMESTAMP NOT NULL,
    read_at    TIMESTAMP
);
CREATE INDEX account_notices_account ON account_notices (account_id, created_at);
