-- Application service (Django app `applications`): students' applications to internship
-- opportunities and their workflow. The allowed status changes are data
-- (applications_workflowtransition); a trigger refuses any other change and records every
-- accepted one in applications_statushistory.

CREATE TYPE application_status AS ENUM (
    'draft',
    'submitted',
    'under_review',
    'shortlisted',
    'interview_scheduled',
    'offered',
    'accepted',
    'rejected',
    'withdrawn'
);

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

CREATE TABLE applications_workflowtransition (
    from_status  application_status NOT NULL,
    to_status    application_status NOT NULL,
    actor_role   varchar(20) NOT NULL,
    PRIMARY KEY (from_status, to_status, actor_role),
    CONSTRAINT applications_workflowtransition_change_check CHECK (from_status <> to_status),
    CONSTRAINT applications_workflowtransition_actor_check
        CHECK (actor_role IN ('applicant', 'employer', 'institution_admin', 'system'))
);

INSERT INTO applications_workflowtransition (from_status, to_status, actor_role) VALUES
    ('draft', 'submitted', 'applicant'),
    ('submitted', 'under_review', 'employer'),
    ('submitted', 'under_review', 'system'),
    ('submitted', 'withdrawn', 'applicant'),
    ('submitted', 'rejected', 'system'),               -- the opportunity closed or was filled
    ('under_review', 'shortlisted', 'employer'),
    ('under_review', 'rejected', 'employer'),
    ('under_review', 'withdrawn', 'applicant'),
    ('shortlisted', 'interview_scheduled', 'employer'),
    ('shortlisted', 'rejected', 'employer'),
    ('shortlisted', 'withdrawn', 'applicant'),
    ('interview_scheduled', 'offered', 'employer'),
    ('interview_scheduled', 'rejected', 'employer'),
    ('interview_scheduled', 'withdrawn', 'applicant'),
    ('offered', 'accepted', 'applicant'),
    ('offered', 'withdrawn', 'applicant'),              -- offer declined
    ('offered', 'rejected', 'institution_admin');       -- the institution did not approve

CREATE TABLE applications_application (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_profile_id    uuid NOT NULL,                 -- user_schema.profiles_userprofile.id
    applicant_user_id  uuid NOT NULL,                 -- auth_schema.authentication_user.id
    opportunity_id     uuid NOT NULL,                 -- internship_schema.internships_opportunity.id
    institution_id     uuid,                          -- institution_schema.institutions_institution.id
    program_id         uuid,                          -- institution_schema.institutions_program.id
    status             application_status NOT NULL DEFAULT 'draft',
    cover_letter       text,
    available_from     date,
    submitted_at       timestamptz,
    decided_at         timestamptz,
    withdrawn_reason   text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT applications_application_one_per_opportunity UNIQUE (applicant_user_id, opportunity_id),
    CONSTRAINT applications_application_submitted_check CHECK ((status = 'draft') = (submitted_at IS NULL)),
    CONSTRAINT applications_application_decided_check
        CHECK ((status IN ('accepted', 'rejected', 'withdrawn')) = (decided_at IS NOT NULL)),
    CONSTRAINT applications_application_cover_letter_check
        CHECK (status = 'draft' OR length(coalesce(cover_letter, '')) >= 50)
);

-- Cross-schema index of seed 004: a profile's applications.
CREATE INDEX idx_application_user_profile ON applications_application (user_profile_id);
CREATE INDEX idx_application_opportunity_status ON applications_application (opportunity_id, status);
CREATE INDEX idx_application_institution ON applications_application (institution_id)
    WHERE institution_id IS NOT NULL;

CREATE TABLE applications_statushistory (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    application_id  uuid NOT NULL REFERENCES applications_application (id) ON DELETE CASCADE,
    from_status     application_status,
    to_status       application_status NOT NULL,
    actor_role      varchar(20) NOT NULL,
    changed_by      uuid,                             -- auth_schema.authentication_user.id
    note            text,
    changed_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT applications_statushistory_change_check CHECK (from_status IS DISTINCT FROM to_status)
);

CREATE INDEX idx_statushistory_application ON applications_statushistory (application_id, changed_at);

CREATE TABLE applications_document (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    application_id  uuid NOT NULL REFERENCES applications_application (id) ON DELETE CASCADE,
    document_type   varchar(20) NOT NULL,
    file_name       varchar(255) NOT NULL,
    storage_key     varchar(255) NOT NULL,
    content_type    varchar(100) NOT NULL,
    size_bytes      integer NOT NULL,
    uploaded_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT applications_document_key UNIQUE (application_id, document_type, file_name),
    CONSTRAINT applications_document_type_check
        CHECK (document_type IN ('cv', 'transcript', 'recommendation', 'national_id', 'portfolio')),
    CONSTRAINT applications_document_size_check CHECK (size_bytes BETWEEN 1 AND 10485760),
    CONSTRAINT applications_document_content_type_check
        CHECK (content_type IN ('application/pdf', 'image/jpeg', 'image/png',
                                'application/vnd.openxmlformats-officedocument.wordprocessingml.document'))
);

-- The workflow. The acting role and user come from the session settings the service sets per
-- request (app.actor_role, app.current_user_id); without app.actor_role any role's transition
-- is accepted (maintenance scripts).
CREATE FUNCTION application_enforce_workflow() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    actor text := nullif(current_setting('app.actor_role', true), '');
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM applications_workflowtransition w
         WHERE w.from_status = OLD.status AND w.to_status = NEW.status
           AND (actor IS NULL OR w.actor_role = actor)
    ) THEN
        RAISE EXCEPTION 'application %: % → % is not allowed for %', OLD.id, OLD.status, NEW.status,
                        coalesce(actor, 'any role')
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.status = 'submitted' THEN
        NEW.submitted_at := coalesce(NEW.submitted_at, NEW.updated_at);
    END IF;
    IF NEW.status IN ('accepted', 'rejected', 'withdrawn') THEN
        NEW.decided_at := coalesce(NEW.decided_at, NEW.updated_at);
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER applications_application_workflow
    BEFORE UPDATE OF status ON applications_application
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION application_enforce_workflow();

-- BEFORE triggers fire in name order: _set_updated_at before _workflow, so updated_at is final
-- when the workflow stamps submitted_at and decided_at.
CREATE TRIGGER applications_application_set_updated_at
    BEFORE UPDATE ON applications_application
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE FUNCTION application_record_status() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO applications_statushistory (application_id, from_status, to_status, actor_role,
                                            changed_by, note, changed_at)
    VALUES (NEW.id,
            CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END,
            NEW.status,
            coalesce(nullif(current_setting('app.actor_role', true), ''), 'system'),
            nullif(current_setting('app.current_user_id', true), '')::uuid,
            nullif(current_setting('app.transition_note', true), ''),
            NEW.updated_at);
    RETURN NULL;
END;
$$;

CREATE TRIGGER applications_application_history_insert
    AFTER INSERT ON applications_application
    FOR EACH ROW EXECUTE FUNCTION application_record_status();

CREATE TRIGGER applications_application_history_update
    AFTER UPDATE OF status ON applications_application
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION application_record_status();
