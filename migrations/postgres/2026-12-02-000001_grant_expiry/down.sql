ALTER TABLE role_grants DROP COLUMN expires_at;
