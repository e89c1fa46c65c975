DROP INDEX IF EXISTS attendance_one_open;
