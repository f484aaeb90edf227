DROP TABLE notifications_notificationpreference;
DROP TABLE notifications_notification;
DROP TABLE notifications_notificationtemplate;
DROP FUNCTION set_updated_at();
