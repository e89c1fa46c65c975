-- A probation extended once (延长预备期, 6 to 12 months) needs its length to know when the
-- probation ends; a free-text note (备注) carries what rosters keep beside the fields,
-- e.g. where a member works away from the village.
ALTER TABLE members ADD COLUMN probation_extension_months INTEGER;
ALTER TABLE members ADD COLUMN note TEXT;
