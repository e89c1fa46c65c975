DROP INDEX account_notices_created;
