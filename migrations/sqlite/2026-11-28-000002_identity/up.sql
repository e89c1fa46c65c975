-- Identity and the organization tree. Enums are TEXT with CHECK constraints; ids are
-- UUIDv7 text; timestamps are UTC.

CREATE TABLE organizations (
    id                  TEXT      PRIMARY KEY,
    code                TEXT      NOT NULL UNIQUE,
    name                TEXT      NOT NULL,
    kind                TEXT      NOT NULL CHECK (kind IN ('party_committee', 'work_committee', 'general_branch', 'branch', 'joint_branch', 'temporary_branch', 'party_group')),
    domain              TEXT      NOT NULL CHECK (domain IN ('rural', 'community', 'agency', 'school', 'state_enterprise', 'private_enterprise', 'social_organization', 'public_institution')),
    parent_id           TEXT      REFERENCES organizations (id),
    depth               INTEGER   NOT NULL,
    status              TEXT      NOT NULL DEFAULT 'normal' CHECK (status IN ('normal', 'merged', 'dissolved')),
    can_approve_members BOOLEAN   NOT NULL DEFAULT FALSE,
    term_start          DATE,
    term_end            DATE,
    address             TEXT,
    created_at          TIMESTAMP NOT NULL,
    updated_at          TIMESTAMP NOT NULL,
    version             INTEGER   NOT NULL DEFAULT 1
);
CREATE INDEX organizations_parent ON organizations (parent_id);

-- Closure table: one row per (ancestor, descendant), including (x, x) at depth 0, so a
-- subtree is one indexed lookup on either backend.
CREATE TABLE org_closure (
    ancestor_id   TEXT    NOT NULL REFERENCES organizations (id),
    descendant_id TEXT    NOT NULL REFERENCES organizations (id),
    distance      INTEGER NOT NULL,
    PRIMARY KEY (ancestor_id, descendant_id)
);
CREATE INDEX org_closure_descendant ON org_closure (descendant_id, distance);

CREATE TABLE members (
    id                  TEXT      PRIMARY KEY,
    org_id              TEXT      NOT NULL REFERENCES organizations (id),
    party_group_id      TEXT      REFERENCES organizations (id),
    name                TEXT      NOT NULL,
    gender              TEXT      NOT NULL CHECK (gender IN ('male', 'female')),
    birth_date          DATE,
    ethnicity           TEXT      NOT NULL DEFAULT '汉族',
    -- AES-256-GCM ciphertexts ("kid:nonce:ciphertext", base64) and HMAC blind indexes.
    id_number_enc       TEXT      NOT NULL,
    id_number_bidx      TEXT      NOT NULL UNIQUE,
    phone_enc           TEXT,
    phone_bidx          TEXT      UNIQUE,
    education           TEXT,
    work_unit           TEXT,
    status              TEXT      NOT NULL CHECK (status IN ('applicant', 'activist', 'candidate', 'probationary', 'full', 'removed')),
    applied_on          DATE,
    activist_on         DATE,
    candidate_on        DATE,
    probationary_on     DATE,
    probation_extended  BOOLEAN   NOT NULL DEFAULT FALSE,
    regularized_on      DATE,
    discipline_until    DATE,
    rights_suspended    BOOLEAN   NOT NULL DEFAULT FALSE,
    membership_stopped  BOOLEAN   NOT NULL DEFAULT FALSE,
    lost_contact        BOOLEAN   NOT NULL DEFAULT FALSE,
    removed_reason      TEXT,
    created_at          TIMESTAMP NOT NULL,
    updated_at          TIMESTAMP NOT NULL,
    version             INTEGER   NOT NULL DEFAULT 1
);
CREATE INDEX members_org ON members (org_id, name, id);
CREATE INDEX members_party_group ON members (party_group_id);

-- Every status change and flag change, never overwritten.
CREATE TABLE member_status_history (
    id               TEXT      PRIMARY KEY,
    member_id        TEXT      NOT NULL REFERENCES members (id),
    change           TEXT      NOT NULL,
    from_value       TEXT,
    to_value         TEXT      NOT NULL,
    effective_on     DATE      NOT NULL,
    reason           TEXT,
    actor_account_id TEXT,
    created_at       TIMESTAMP NOT NULL
);
CREATE INDEX member_status_history_member ON member_status_history (member_id, created_at);

-- Committee posts (书记, 副书记, 组织委员 …) of an organization.
CREATE TABLE org_posts (
    id         TEXT      PRIMARY KEY,
    org_id     TEXT      NOT NULL REFERENCES organizations (id),
    post       TEXT      NOT NULL CHECK (post IN ('secretary', 'deputy_secretary', 'organization_member', 'propaganda_member', 'discipline_member', 'committee_member', 'group_leader')),
    member_id  TEXT      NOT NULL REFERENCES members (id),
    since      DATE      NOT NULL,
    until      DATE,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX org_posts_org ON org_posts (org_id);

CREATE TABLE accounts (
    id                  TEXT      PRIMARY KEY,
    member_id           TEXT      UNIQUE REFERENCES members (id),
    display_name        TEXT      NOT NULL,
    phone_enc           TEXT      NOT NULL,
    phone_bidx          TEXT      NOT NULL UNIQUE,
    password_hash       TEXT,
    kind                TEXT      NOT NULL CHECK (kind IN ('member', 'public', 'expert', 'staff')),
    status              TEXT      NOT NULL CHECK (status IN ('pending', 'active', 'disabled')),
    password_changed_at TIMESTAMP,
    created_at          TIMESTAMP NOT NULL,
    updated_at          TIMESTAMP NOT NULL
);

CREATE TABLE activation_codes (
    id         TEXT      PRIMARY KEY,
    account_id TEXT      NOT NULL REFERENCES accounts (id),
    code_hash  TEXT      NOT NULL,
    issued_by  TEXT,
    expires_at TIMESTAMP NOT NULL,
    used_at    TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX activation_codes_account ON activation_codes (account_id);

CREATE TABLE refresh_tokens (
    id          TEXT      PRIMARY KEY,
    account_id  TEXT      NOT NULL REFERENCES accounts (id),
    family_id   TEXT      NOT NULL,
    token_hash  TEXT      NOT NULL UNIQUE,
    device_id   TEXT      NOT NULL,
    issued_at   TIMESTAMP NOT NULL,
    expires_at  TIMESTAMP NOT NULL,
    rotated_at  TIMESTAMP,
    revoked_at  TIMESTAMP,
    created_at  TIMESTAMP NOT NULL
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_account ON refresh_tokens (account_id);

CREATE TABLE role_grants (
    id         TEXT      PRIMARY KEY,
    account_id TEXT      NOT NULL REFERENCES accounts (id),
    role       TEXT      NOT NULL CHECK (role IN ('member', 'branch_secretary', 'branch_committee', 'org_admin', 'expert', 'public', 'super_admin')),
    org_id     TEXT      REFERENCES organizations (id),
    granted_by TEXT,
    granted_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP,
    revoked_by TEXT
);
CREATE INDEX role_grants_account ON role_grants (account_id);
CREATE INDEX role_grants_org ON role_grants (org_id);

-- Append-only. Each row's hash covers its content and the previous row's hash, so a
-- changed or deleted row breaks the chain. audit_head serializes appenders.
CREATE TABLE audit_log (
    seq              INTEGER   PRIMARY KEY,
    id               TEXT      NOT NULL UNIQUE,
    actor_account_id TEXT,
    actor_org_id     TEXT,
    action           TEXT      NOT NULL,
    target_type      TEXT      NOT NULL,
    target_id        TEXT      NOT NULL,
    org_id           TEXT,
    before_json      TEXT,
    after_json       TEXT,
    request_id       TEXT,
    client_addr      TEXT,
    created_at       TIMESTAMP NOT NULL,
    prev_hash        TEXT      NOT NULL,
    hash             TEXT      NOT NULL
);
CREATE INDEX audit_log_org ON audit_log (org_id, seq);
CREATE INDEX audit_log_target ON audit_log (target_type, target_id, seq);

CREATE TABLE audit_head (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq  BIGINT  NOT NULL,
    last_hash TEXT    NOT NULL
);
INSERT INTO audit_head (id, last_seq, last_hash) VALUES (1, 0, 'genesis');
