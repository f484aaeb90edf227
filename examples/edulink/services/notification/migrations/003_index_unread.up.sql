-- pgfleet:no-transaction
-- The bell icon's unread count runs on every page load; this partial index is built
-- concurrently, notifications_notification is written continuously.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_notification_unread
    ON notifications_notification (user_id, created_at DESC)
    WHERE read_at IS NULL AND channel = 'in_app';
