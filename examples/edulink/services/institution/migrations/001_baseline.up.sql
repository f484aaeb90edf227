-- Institution service (Django app `institutions`): universities and colleges, their
-- departments and the programmes students are enrolled in.

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

CREATE TABLE institutions_institution (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name                  varchar(255) NOT NULL,
    short_name            varchar(20),
    institution_type      varchar(20) NOT NULL,
    country               char(2) NOT NULL DEFAULT 'KE',
    county                varchar(50),
    website               varchar(255),
    email_domain          varchar(100) NOT NULL,      -- students verify with an address here
    accreditation_status  varchar(20) NOT NULL DEFAULT 'pending',
    is_verified           boolean NOT NULL DEFAULT false,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT institutions_institution_type_check
        CHECK (institution_type IN ('university', 'university_college', 'polytechnic', 'tvet')),
    CONSTRAINT institutions_institution_country_check CHECK (country ~ '^[A-Z]{2}$'),
    CONSTRAINT institutions_institution_domain_check CHECK (email_domain ~ '^[a-z0-9.-]+\.[a-z]{2,}$'),
    CONSTRAINT institutions_institution_accreditation_check
        CHECK (accreditation_status IN ('accredited', 'provisional', 'pending', 'revoked'))
);

CREATE UNIQUE INDEX uq_institution_name ON institutions_institution (lower(name));
CREATE UNIQUE INDEX uq_institution_email_domain ON institutions_institution (email_domain);

CREATE TRIGGER institutions_institution_set_updated_at
    BEFORE UPDATE ON institutions_institution
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE institutions_department (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    institution_id  uuid NOT NULL REFERENCES institutions_institution (id) ON DELETE CASCADE,
    code            varchar(10) NOT NULL,
    name            varchar(255) NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT institutions_department_code_key UNIQUE (institution_id, code),
    -- Target of the programmes' composite key: a programme's department is of its institution.
    CONSTRAINT institutions_department_institution_id_key UNIQUE (institution_id, id)
);

CREATE TABLE institutions_program (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    institution_id  uuid NOT NULL REFERENCES institutions_institution (id) ON DELETE CASCADE,
    department_id   uuid,
    code            varchar(20) NOT NULL,
    name            varchar(255) NOT NULL,
    level           varchar(20) NOT NULL,
    duration_years  numeric(2, 1) NOT NULL,
    requires_attachment boolean NOT NULL DEFAULT true, -- industrial attachment is compulsory
    is_active       boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT institutions_program_code_key UNIQUE (institution_id, code),
    CONSTRAINT institutions_program_department_fkey FOREIGN KEY (institution_id, department_id)
        REFERENCES institutions_department (institution_id, id),
    CONSTRAINT institutions_program_level_check
        CHECK (level IN ('certificate', 'diploma', 'bachelor', 'master', 'doctorate')),
    CONSTRAINT institutions_program_duration_check CHECK (duration_years BETWEEN 0.5 AND 7)
);

CREATE INDEX idx_institutions_program_department ON institutions_program (department_id);
CREATE INDEX idx_institutions_program_active ON institutions_program (institution_id) WHERE is_active;

CREATE TRIGGER institutions_program_set_updated_at
    BEFORE UPDATE ON institutions_program
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
