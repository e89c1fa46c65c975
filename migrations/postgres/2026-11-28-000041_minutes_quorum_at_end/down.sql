ALTER TABLE minutes DROP COLUMN quorum_at_end_json;
