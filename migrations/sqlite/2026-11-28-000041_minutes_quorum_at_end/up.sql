-- The quorum when the meeting ended, frozen when the minutes are submitted: the
-- compliance calendar counts a congress or committee meeting only if it was quorate.
ALTER TABLE minutes ADD COLUMN quorum_at_end_json TEXT;
