-- Class Management Service: teachers' classes, their students and enrolments, and which
-- student wrote which essay.

CREATE TYPE course_code AS ENUM ('ENG5', 'ENG6', 'ENG7', 'SV1', 'SV2', 'SV3');

CREATE TYPE enrolment_status AS ENUM ('active', 'withdrawn', 'transferred');

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

CREATE TABLE classes (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    created_by_user_id  uuid NOT NULL,                -- the teacher (identity provider)
    org_id              uuid,
    class_designation   varchar(50) NOT NULL,
    course_code         course_code NOT NULL,
    school_year         smallint NOT NULL,
    archived_at         timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT classes_teacher_designation_key UNIQUE (created_by_user_id, class_designation, school_year),
    CONSTRAINT classes_designation_check CHECK (length(btrim(class_designation)) > 0),
    CONSTRAINT classes_school_year_check CHECK (school_year BETWEEN 2020 AND 2100)
);

CREATE INDEX idx_classes_org ON classes (org_id) WHERE org_id IS NOT NULL;

CREATE TRIGGER classes_set_updated_at
    BEFORE UPDATE ON classes
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE students (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    created_by_user_id  uuid NOT NULL,
    first_name          varchar(100) NOT NULL,
    last_name           varchar(100) NOT NULL,
    legal_full_name     varchar(255),
    email               varchar(255),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT students_email_check CHECK (email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
    CONSTRAINT students_name_check CHECK (length(btrim(first_name)) > 0 AND length(btrim(last_name)) > 0)
);

-- A teacher registers a student (by e-mail) once.
CREATE UNIQUE INDEX uq_students_teacher_email ON students (created_by_user_id, lower(email))
    WHERE email IS NOT NULL;
CREATE INDEX idx_students_name ON students (lower(last_name), lower(first_name));

CREATE TRIGGER students_set_updated_at
    BEFORE UPDATE ON students
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Enrolments.
CREATE TABLE class_students (
    class_id     uuid NOT NULL REFERENCES classes (id) ON DELETE CASCADE,
    student_id   uuid NOT NULL REFERENCES students (id) ON DELETE CASCADE,
    status       enrolment_status NOT NULL DEFAULT 'active',
    enrolled_at  timestamptz NOT NULL DEFAULT now(),
    left_at      timestamptz,
    PRIMARY KEY (class_id, student_id),
    CONSTRAINT class_students_left_check CHECK ((left_at IS NULL) = (status = 'active')),
    CONSTRAINT class_students_dates_check CHECK (left_at IS NULL OR left_at >= enrolled_at)
);

CREATE INDEX idx_class_students_student ON class_students (student_id);

-- Which student wrote an essay (essay_lifecycle_service.essay_states.essay_id): suggested by
-- the NLP service's roster matching, confirmed by the teacher.
CREATE TABLE essay_student_associations (
    essay_id              uuid PRIMARY KEY,
    batch_id              uuid NOT NULL,              -- batch_orchestrator_service.batches.id
    class_id              uuid NOT NULL REFERENCES classes (id) ON DELETE CASCADE,
    student_id            uuid NOT NULL REFERENCES students (id) ON DELETE CASCADE,
    match_confidence      numeric(4, 3),
    confirmed_by_user_id  uuid,
    confirmed_at          timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT essay_student_associations_confidence_check CHECK (match_confidence BETWEEN 0 AND 1),
    CONSTRAINT essay_student_associations_confirmation_check
        CHECK ((confirmed_by_user_id IS NULL) = (confirmed_at IS NULL)),
    CONSTRAINT essay_student_associations_enrolment_fkey
        FOREIGN KEY (class_id, student_id) REFERENCES class_students (class_id, student_id)
);

CREATE INDEX idx_essay_student_associations_batch ON essay_student_associations (batch_id);
