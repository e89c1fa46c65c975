-- 介绍信 (RULES.md §4.2): the printed serial and the issuing committee's name as issued,
-- and why and when a letter was voided (reissued, revoked, rejected).
ALTER TABLE transfer_letters ADD COLUMN serial TEXT;
ALTER TABLE transfer_letters ADD COLUMN issuing_org_name TEXT;
ALTER TABLE transfer_letters ADD COLUMN void_reason TEXT;
ALTER TABLE transfer_letters ADD COLUMN voided_at TIMESTAMP;

-- 流动党员 (RULES.md §4.4): one row per time away, registered at home (outflow) or at the
-- host (inflow); the host organization accepts it (pending → accepted) before the member
-- takes part there; the secretary's review of a 失联 flag; how it ended.
ALTER TABLE migrant_records ADD COLUMN host_status TEXT NOT NULL DEFAULT 'none' CHECK (host_status IN ('none', 'pending', 'accepted'));
ALTER TABLE migrant_records ADD COLUMN host_accepted_at TIMESTAMP;
ALTER TABLE migrant_records ADD COLUMN host_accepted_by TEXT;
ALTER TABLE migrant_records ADD COLUMN lost_contact_reviewed_at TIMESTAMP;
ALTER TABLE migrant_records ADD COLUMN lost_contact_reviewed_by TEXT;
ALTER TABLE migrant_records ADD COLUMN end_reason TEXT;
-- At most one time away under way per member.
CREATE UNIQUE INDEX migrant_records_one_open ON migrant_records (member_id) WHERE ended_on IS NULL;

-- Contacts with a migrant member (电话、视频、走访、本人报告…): the 失联 flag is raised when
-- the newest is older than six months.
CREATE TABLE migrant_contacts (
    id           TEXT      PRIMARY KEY,
    record_id    TEXT      NOT NULL REFERENCES migrant_records (id),
    contacted_at TIMESTAMP NOT NULL,
    channel      TEXT      NOT NULL CHECK (channel IN ('phone', 'video', 'visit', 'message', 'self_report', 'other')),
    note         TEXT,
    recorded_by  TEXT      NOT NULL,
    created_at   TIMESTAMP NOT NULL
);
CREATE INDEX migrant_contacts_record ON migrant_contacts (record_id, contacted_at);
