-- 组织关系转接 (RULES.md §4): transfer requests with their recorded steps, the
-- introduction letters they issue, and the 流动党员 (migrant member) registry.

CREATE TABLE transfers (
    id                     TEXT      PRIMARY KEY,
    member_id              TEXT      NOT NULL REFERENCES members (id),
    kind                   TEXT      NOT NULL CHECK (kind IN ('within_county', 'within_city', 'out_of_city', 'into_city')),
    -- The branch holding the relationship when the request was made (NULL for into_city).
    from_org_id            TEXT      REFERENCES organizations (id),
    -- The sending basic-level committee: the nearest ancestor with approval authority.
    from_committee_id      TEXT      REFERENCES organizations (id),
    -- The receiving organization in the system (NULL when the destination is outside).
    to_org_id              TEXT      REFERENCES organizations (id),
    to_committee_id        TEXT      REFERENCES organizations (id),
    -- The receiving branch, chosen by the receiving committee.
    to_branch_id           TEXT      REFERENCES organizations (id),
    outside_org_name       TEXT,
    outside_org_address    TEXT,
    -- For into_city: the serial of the paper letter that came with the member.
    incoming_letter_serial TEXT,
    reason                 TEXT      NOT NULL,
    planned_on             DATE,
    status                 TEXT      NOT NULL CHECK (status IN ('submitted', 'returned_for_edits', 'approved_by_branch', 'approved_by_committee', 'accepted', 'assigned', 'reported', 'receipt_returned', 'done', 'withdrawn', 'rejected', 'expired', 'revoked')),
    reject_reason          TEXT,
    -- 党费已交到 (YYYY-MM), entered at hand-over until the dues module fills it.
    dues_paid_to           TEXT,
    created_by             TEXT      NOT NULL,
    created_at             TIMESTAMP NOT NULL,
    updated_at             TIMESTAMP NOT NULL,
    -- When the current status was entered, for the overdue (审批超时) work list.
    status_since           TIMESTAMP NOT NULL,
    version                INTEGER   NOT NULL DEFAULT 1
);
CREATE INDEX transfers_member ON transfers (member_id);
CREATE INDEX transfers_from_org ON transfers (from_org_id);
CREATE INDEX transfers_from_committee ON transfers (from_committee_id);
CREATE INDEX transfers_to_committee ON transfers (to_committee_id);
CREATE INDEX transfers_status ON transfers (status);

-- Every step taken on a transfer: who, at which organization, when, with what comment.
CREATE TABLE transfer_steps (
    id               TEXT      PRIMARY KEY,
    transfer_id      TEXT      NOT NULL REFERENCES transfers (id),
    seq              INTEGER   NOT NULL,
    action           TEXT      NOT NULL,
    from_status      TEXT      NOT NULL,
    to_status        TEXT      NOT NULL,
    actor_account_id TEXT      NOT NULL,
    actor_org_id     TEXT,
    comment          TEXT,
    created_at       TIMESTAMP NOT NULL,
    UNIQUE (transfer_id, seq)
);

-- 介绍信: serial unique per issuing committee and year; a reissue voids the old letter.
CREATE TABLE transfer_letters (
    id               TEXT      PRIMARY KEY,
    transfer_id      TEXT      NOT NULL REFERENCES transfers (id),
    issuing_org_id   TEXT      NOT NULL REFERENCES organizations (id),
    serial_year      INTEGER   NOT NULL,
    serial_no        INTEGER   NOT NULL,
    member_name      TEXT      NOT NULL,
    gender           TEXT      NOT NULL,
    age              INTEGER,
    ethnicity        TEXT      NOT NULL,
    membership       TEXT      NOT NULL CHECK (membership IN ('full', 'probationary')),
    id_number_masked TEXT      NOT NULL,
    member_phone_masked TEXT,
    from_org_name    TEXT      NOT NULL,
    to_org_name      TEXT      NOT NULL,
    dues_paid_to     TEXT,
    validity_days    INTEGER   NOT NULL,
    issued_on        DATE      NOT NULL,
    expires_on       DATE      NOT NULL,
    status           TEXT      NOT NULL CHECK (status IN ('valid', 'void')),
    reissued_from    TEXT      REFERENCES transfer_letters (id),
    receipt_returned_at TIMESTAMP,
    created_at       TIMESTAMP NOT NULL,
    UNIQUE (issuing_org_id, serial_year, serial_no)
);
CREATE INDEX transfer_letters_transfer ON transfer_letters (transfer_id);

-- 流动党员: an outflow registered at the home branch, an inflow at the host organization.
CREATE TABLE migrant_records (
    id              TEXT      PRIMARY KEY,
    member_id       TEXT      NOT NULL REFERENCES members (id),
    direction       TEXT      NOT NULL CHECK (direction IN ('outflow', 'inflow')),
    home_org_id     TEXT      NOT NULL REFERENCES organizations (id),
    -- The host organization when it is in the system.
    host_org_id     TEXT      REFERENCES organizations (id),
    destination     TEXT      NOT NULL,
    work_unit       TEXT,
    contact         TEXT,
    since           DATE      NOT NULL,
    card_number     TEXT,
    last_contact_at TIMESTAMP,
    ended_on        DATE,
    created_by      TEXT      NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    version         INTEGER   NOT NULL DEFAULT 1
);
CREATE INDEX migrant_records_member ON migrant_records (member_id);
CREATE INDEX migrant_records_home ON migrant_records (home_org_id);
CREATE INDEX migrant_records_host ON migrant_records (host_org_id);
