-- Brute-force protection: failed attempts are recorded, and an account locks for a while
-- after too many of them.
ALTER TABLE authentication_user
    ADD COLUMN failed_login_count integer NOT NULL DEFAULT 0,
    ADD COLUMN locked_until timestamptz,
    ADD CONSTRAINT authentication_user_failed_login_check CHECK (failed_login_count >= 0);

CREATE INDEX idx_authentication_user_locked ON authentication_user (locked_until)
    WHERE locked_until IS NOT NULL;

CREATE TABLE authentication_loginattempt (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email           varchar(254) NOT NULL,
    user_id         uuid REFERENCES authentication_user (id) ON DELETE SET NULL,
    ip_address      inet,
    succeeded       boolean NOT NULL,
    failure_reason  varchar(30),
    attempted_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT authentication_loginattempt_reason_check CHECK (
        succeeded = (failure_reason IS NULL)
        AND (failure_reason IS NULL
             OR failure_reason IN ('bad_password', 'unknown_email', 'locked', 'inactive', 'unverified')))
);

CREATE INDEX idx_authentication_loginattempt_email ON authentication_loginattempt (lower(email), attempted_at DESC);
CREATE INDEX idx_authentication_loginattempt_ip ON authentication_loginattempt (ip_address, attempted_at DESC)
    WHERE NOT succeeded;
