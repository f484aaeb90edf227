-- User service (Django app `profiles`): the profile behind each account of the auth service,
-- academic details of students, employer details, and preferences.
-- profiles_userprofile has row level security (fleet.toml): the service's runtime role sees
-- only the row whose user_id is the session's app.current_user_id.

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

CREATE TABLE profiles_userprofile (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id              uuid NOT NULL,               -- auth_schema.authentication_user.id
    profile_type         varchar(20) NOT NULL,
    first_name           varchar(100) NOT NULL,
    last_name            varchar(100) NOT NULL,
    phone_number         varchar(20),
    date_of_birth        date,
    bio                  text,
    avatar_url           varchar(500),
    institution_id       uuid,                        -- institution_schema.institutions_institution.id
    is_profile_complete  boolean NOT NULL DEFAULT false,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT profiles_userprofile_type_check
        CHECK (profile_type IN ('student', 'employer', 'institution_admin', 'supervisor', 'system_admin')),
    CONSTRAINT profiles_userprofile_phone_check CHECK (phone_number ~ '^\+[0-9]{8,15}$'),
    CONSTRAINT profiles_userprofile_dob_check CHECK (date_of_birth BETWEEN DATE '1940-01-01' AND DATE '2012-12-31')
);

-- Cross-schema index of seed 004: profiles are looked up by the auth user (one profile each).
CREATE UNIQUE INDEX idx_user_profile_user_id ON profiles_userprofile (user_id);
CREATE INDEX idx_user_profile_institution ON profiles_userprofile (institution_id)
    WHERE institution_id IS NOT NULL;

CREATE TRIGGER profiles_userprofile_set_updated_at
    BEFORE UPDATE ON profiles_userprofile
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE profiles_studentprofile (
    profile_id           uuid PRIMARY KEY REFERENCES profiles_userprofile (id) ON DELETE CASCADE,
    registration_number  varchar(30) NOT NULL,
    program_id           uuid,                        -- institution_schema.institutions_program.id
    year_of_study        smallint NOT NULL,
    gpa                  numeric(3, 2),
    expected_graduation  date,
    skills               text[] NOT NULL DEFAULT '{}',
    cv_storage_key       varchar(255),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT profiles_studentprofile_year_check CHECK (year_of_study BETWEEN 1 AND 7),
    CONSTRAINT profiles_studentprofile_gpa_check CHECK (gpa BETWEEN 0 AND 4)
);

CREATE UNIQUE INDEX uq_studentprofile_registration ON profiles_studentprofile (upper(registration_number));
CREATE INDEX idx_studentprofile_program ON profiles_studentprofile (program_id);

CREATE TRIGGER profiles_studentprofile_set_updated_at
    BEFORE UPDATE ON profiles_studentprofile
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE profiles_employerprofile (
    profile_id    uuid PRIMARY KEY REFERENCES profiles_userprofile (id) ON DELETE CASCADE,
    company_name  varchar(255) NOT NULL,
    industry      varchar(100) NOT NULL,
    company_size  varchar(10) NOT NULL,
    website       varchar(255),
    kra_pin       varchar(11),                        -- Kenya Revenue Authority PIN
    is_verified   boolean NOT NULL DEFAULT false,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT profiles_employerprofile_size_check
        CHECK (company_size IN ('1-10', '11-50', '51-200', '201-1000', '1000+')),
    CONSTRAINT profiles_employerprofile_kra_pin_check CHECK (kra_pin ~ '^[AP][0-9]{9}[A-Z]$')
);

CREATE TRIGGER profiles_employerprofile_set_updated_at
    BEFORE UPDATE ON profiles_employerprofile
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE profiles_userpreference (
    profile_id    uuid PRIMARY KEY REFERENCES profiles_userprofile (id) ON DELETE CASCADE,
    language      varchar(5) NOT NULL DEFAULT 'en',
    timezone      varchar(50) NOT NULL DEFAULT 'Africa/Nairobi',
    theme         varchar(10) NOT NULL DEFAULT 'system',
    email_digest  varchar(10) NOT NULL DEFAULT 'weekly',
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT profiles_userpreference_language_check CHECK (language IN ('en', 'sw')),
    CONSTRAINT profiles_userpreference_theme_check CHECK (theme IN ('light', 'dark', 'system')),
    CONSTRAINT profiles_userpreference_digest_check CHECK (email_digest IN ('never', 'daily', 'weekly'))
);

CREATE TRIGGER profiles_userpreference_set_updated_at
    BEFORE UPDATE ON profiles_userpreference
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
