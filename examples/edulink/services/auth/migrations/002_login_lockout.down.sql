DROP TABLE authentication_loginattempt;

DROP INDEX idx_authentication_user_locked;

ALTER TABLE authentication_user
    DROP CONSTRAINT authentication_user_failed_login_check,
    DROP COLUMN locked_until,
    DROP COLUMN failed_login_count;
