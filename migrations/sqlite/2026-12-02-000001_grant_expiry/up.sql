-- A grant may be given until a date (a term of office, a stand-in): past it the grant
-- reaches nothing, and the sweep stamps it revoked.
ALTER TABLE role_grants ADD COLUMN expires_at TIMESTAMP;
