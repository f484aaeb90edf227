DROP TABLE authentication_user_permissions;
DROP TABLE authentication_rolepermission;
DROP TABLE authentication_permission;
DROP TABLE authentication_session;
DROP TABLE authentication_user;
DROP FUNCTION set_updated_at();
