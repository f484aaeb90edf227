-- pgfleet:no-transaction
DROP INDEX CONCURRENTLY IF EXISTS idx_notification_unread;
