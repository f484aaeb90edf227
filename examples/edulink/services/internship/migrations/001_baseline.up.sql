-- Internship service (Django app `internships`): opportunities posted by employers (or by
-- institutions for their own attachments), placements of accepted applicants, and the
-- students' daily logbooks that supervisors approve.

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

CREATE TABLE internships_opportunity (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    posted_by_user_id     uuid NOT NULL,              -- auth_schema.authentication_user.id
    employer_name         varchar(255) NOT NULL,
    institution_id        uuid,                       -- institution_schema.institutions_institution.id
    title                 varchar(200) NOT NULL,
    description           text NOT NULL,
    location              varchar(120) NOT NULL,
    work_mode             varchar(10) NOT NULL DEFAULT 'onsite',
    stipend_amount        numeric(10, 2),
    stipend_currency      char(3) NOT NULL DEFAULT 'KES',
    slots                 integer NOT NULL DEFAULT 1,
    required_skills       text[] NOT NULL DEFAULT '{}',
    application_deadline  date NOT NULL,
    start_date            date NOT NULL,
    end_date              date NOT NULL,
    status                varchar(10) NOT NULL DEFAULT 'draft',
    published_at          timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT internships_opportunity_work_mode_check CHECK (work_mode IN ('onsite', 'remote', 'hybrid')),
    CONSTRAINT internships_opportunity_stipend_check CHECK (stipend_amount >= 0),
    CONSTRAINT internships_opportunity_currency_check CHECK (stipend_currency ~ '^[A-Z]{3}$'),
    CONSTRAINT internships_opportunity_slots_check CHECK (slots BETWEEN 1 AND 500),
    CONSTRAINT internships_opportunity_dates_check
        CHECK (application_deadline <= start_date AND start_date < end_date),
    CONSTRAINT internships_opportunity_status_check
        CHECK (status IN ('draft', 'open', 'closed', 'filled', 'cancelled')),
    CONSTRAINT internships_opportunity_published_check CHECK ((status = 'draft') = (published_at IS NULL))
);

CREATE INDEX idx_opportunity_open_deadline ON internships_opportunity (application_deadline)
    WHERE status = 'open';
CREATE INDEX idx_opportunity_posted_by ON internships_opportunity (posted_by_user_id);
CREATE INDEX idx_opportunity_institution ON internships_opportunity (institution_id)
    WHERE institution_id IS NOT NULL;

CREATE TRIGGER internships_opportunity_set_updated_at
    BEFORE UPDATE ON internships_opportunity
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE internships_placement (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    opportunity_id      uuid NOT NULL REFERENCES internships_opportunity (id) ON DELETE RESTRICT,
    application_id      uuid NOT NULL,                -- application_schema.applications_application.id
    student_user_id     uuid NOT NULL,                -- auth_schema.authentication_user.id
    supervisor_user_id  uuid,                         -- the employer's supervisor
    start_date          date NOT NULL,
    end_date            date NOT NULL,
    status              varchar(12) NOT NULL DEFAULT 'scheduled',
    final_score         numeric(5, 2),
    terminated_reason   text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT internships_placement_application_key UNIQUE (application_id),
    CONSTRAINT internships_placement_dates_check CHECK (start_date < end_date),
    CONSTRAINT internships_placement_status_check
        CHECK (status IN ('scheduled', 'active', 'completed', 'terminated')),
    CONSTRAINT internships_placement_score_check CHECK (final_score BETWEEN 0 AND 100),
    CONSTRAINT internships_placement_completed_check CHECK (status <> 'completed' OR final_score IS NOT NULL),
    CONSTRAINT internships_placement_terminated_check
        CHECK ((status = 'terminated') = (terminated_reason IS NOT NULL))
);

CREATE INDEX idx_placement_opportunity ON internships_placement (opportunity_id);
CREATE INDEX idx_placement_student ON internships_placement (student_user_id);
CREATE INDEX idx_placement_supervisor ON internships_placement (supervisor_user_id)
    WHERE status IN ('scheduled', 'active');

CREATE TRIGGER internships_placement_set_updated_at
    BEFORE UPDATE ON internships_placement
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE internships_logbookentry (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    placement_id            uuid NOT NULL REFERENCES internships_placement (id) ON DELETE CASCADE,
    entry_date              date NOT NULL,
    hours_worked            numeric(4, 2) NOT NULL,
    activities              text NOT NULL,
    skills_practised        text[] NOT NULL DEFAULT '{}',
    supervisor_approved_at  timestamptz,
    supervisor_comment      text,
    created_at              timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT internships_logbookentry_day_key UNIQUE (placement_id, entry_date),
    CONSTRAINT internships_logbookentry_hours_check CHECK (hours_worked > 0 AND hours_worked <= 16)
);

CREATE INDEX idx_logbookentry_pending_approval ON internships_logbookentry (placement_id)
    WHERE supervisor_approved_at IS NULL;
