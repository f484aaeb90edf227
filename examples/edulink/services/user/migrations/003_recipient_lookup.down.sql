DROP FUNCTION notification_recipient(uuid);
