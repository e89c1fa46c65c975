-- The live notice feed reads new account notices by (created_at, id) across accounts.
CREATE INDEX account_notices_created ON account_notices (created_at, id);
