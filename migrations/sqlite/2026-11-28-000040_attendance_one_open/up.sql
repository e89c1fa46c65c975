-- At most one open attendance interval per member, meeting and mode, so that two racing
-- check-ins (a double tap, a retried socket join) cannot both open one.
CREATE UNIQUE INDEX attendance_one_open ON attendance_intervals (meeting_id, member_id, mode) WHERE closed_at IS NULL;
