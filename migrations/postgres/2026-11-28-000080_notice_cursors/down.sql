DROP INDEX notices_created;
DROP TABLE notice_cursors;
