-- Interviews get their own table: an application may have several rounds.
CREATE TABLE applications_interview (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    application_id       uuid NOT NULL REFERENCES applications_application (id) ON DELETE CASCADE,
    round                smallint NOT NULL DEFAULT 1,
    scheduled_at         timestamptz NOT NULL,
    duration_minutes     smallint NOT NULL DEFAULT 30,
    mode                 varchar(10) NOT NULL,
    location_or_link     varchar(500),
    interviewer_user_id  uuid,                        -- auth_schema.authentication_user.id
    outcome              varchar(10) NOT NULL DEFAULT 'pending',
    notes                text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT applications_interview_round_key UNIQUE (application_id, round),
    CONSTRAINT applications_interview_duration_check CHECK (duration_minutes BETWEEN 15 AND 240),
    CONSTRAINT applications_interview_mode_check CHECK (mode IN ('in_person', 'video', 'phone')),
    CONSTRAINT applications_interview_outcome_check CHECK (outcome IN ('pending', 'passed', 'failed', 'no_show'))
);

CREATE INDEX idx_interview_interviewer_time ON applications_interview (interviewer_user_id, scheduled_at);

CREATE TRIGGER applications_interview_set_updated_at
    BEFORE UPDATE ON applications_interview
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
