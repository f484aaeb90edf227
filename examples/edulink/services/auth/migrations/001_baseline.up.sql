-- Authentication service (Django app `authentication`): accounts, refresh-token sessions and
-- permissions. Everything else on the platform refers to a user by authentication_user.id.

CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- An explicit updated_at (imports, backfills) is kept; otherwise it is the statement's time.
    IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END;
$$;

CREATE TABLE authentication_user (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email              varchar(254) NOT NULL,
    password           varchar(128) NOT NULL,         -- Django hasher format: algorithm$…
    role               varchar(20) NOT NULL,
    is_active          boolean NOT NULL DEFAULT true,
    is_staff           boolean NOT NULL DEFAULT false,
    is_superuser       boolean NOT NULL DEFAULT false,
    email_verified_at  timestamptz,
    last_login         timestamptz,
    date_joined        timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT authentication_user_role_check
        CHECK (role IN ('student', 'employer', 'institution_admin', 'supervisor', 'system_admin')),
    CONSTRAINT authentication_user_email_check CHECK (email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
    CONSTRAINT authentication_user_password_check
        CHECK (password ~ '^(pbkdf2_sha256|argon2|bcrypt_sha256)\$' OR password LIKE '!%'),
    CONSTRAINT authentication_user_superuser_check CHECK (NOT is_superuser OR is_staff)
);

CREATE UNIQUE INDEX authentication_user_email_key ON authentication_user (lower(email));
CREATE INDEX idx_authentication_user_role ON authentication_user (role) WHERE is_active;

CREATE TRIGGER authentication_user_set_updated_at
    BEFORE UPDATE ON authentication_user
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Refresh tokens (only their SHA-256 is stored).
CREATE TABLE authentication_session (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id             uuid NOT NULL REFERENCES authentication_user (id) ON DELETE CASCADE,
    refresh_token_hash  char(64) NOT NULL,
    user_agent          text,
    ip_address          inet,
    created_at          timestamptz NOT NULL DEFAULT now(),
    last_seen_at        timestamptz NOT NULL DEFAULT now(),
    expires_at          timestamptz NOT NULL,
    revoked_at          timestamptz,
    revoke_reason       varchar(20),
    CONSTRAINT authentication_session_token_key UNIQUE (refresh_token_hash),
    CONSTRAINT authentication_session_token_check CHECK (refresh_token_hash ~ '^[0-9a-f]{64}$'),
    CONSTRAINT authentication_session_expiry_check CHECK (expires_at > created_at),
    CONSTRAINT authentication_session_revoke_check CHECK (
        (revoked_at IS NULL) = (revoke_reason IS NULL)
        AND (revoke_reason IS NULL OR revoke_reason IN ('logout', 'password_change', 'admin', 'reuse_detected')))
);

CREATE INDEX idx_authentication_session_user_active ON authentication_session (user_id)
    WHERE revoked_at IS NULL;
CREATE INDEX idx_authentication_session_expires ON authentication_session (expires_at);

CREATE TABLE authentication_permission (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    codename    varchar(100) NOT NULL,
    name        varchar(255) NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT authentication_permission_codename_key UNIQUE (codename),
    CONSTRAINT authentication_permission_codename_check CHECK (codename ~ '^[a-z_]+\.[a-z_]+$')
);

-- What each role may do, and grants to single users on top of their role.
CREATE TABLE authentication_rolepermission (
    role           varchar(20) NOT NULL,
    permission_id  integer NOT NULL REFERENCES authentication_permission (id) ON DELETE CASCADE,
    PRIMARY KEY (role, permission_id),
    CONSTRAINT authentication_rolepermission_role_check
        CHECK (role IN ('student', 'employer', 'institution_admin', 'supervisor', 'system_admin'))
);

CREATE TABLE authentication_user_permissions (
    user_id        uuid NOT NULL REFERENCES authentication_user (id) ON DELETE CASCADE,
    permission_id  integer NOT NULL REFERENCES authentication_permission (id) ON DELETE CASCADE,
    granted_by     uuid REFERENCES authentication_user (id) ON DELETE SET NULL,
    granted_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, permission_id)
);

CREATE INDEX idx_authentication_user_permissions_permission ON authentication_user_permissions (permission_id);
