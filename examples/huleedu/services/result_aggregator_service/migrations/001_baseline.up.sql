-- Result Aggregator Service: the read model behind the teacher's results pages. It consumes
-- the pipeline's completion events and keeps one row per batch and one per essay.

CREATE TYPE batch_result_status AS ENUM (
    'registered',
    'processing',
    'completed_successfully',
    'completed_with_failures',
    'failed',
    'cancelled'
);

CREATE TYPE phase_result_status AS ENUM ('pending', 'success', 'failed', 'skipped');

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

CREATE TABLE batch_results (
    batch_id                 uuid PRIMARY KEY,        -- batch_orchestrator_service.batches.id
    user_id                  uuid NOT NULL,
    class_id                 uuid,                    -- class_management_service.classes.id
    course_code              varchar(20) NOT NULL,
    overall_status           batch_result_status NOT NULL DEFAULT 'registered',
    requested_pipelines      text[] NOT NULL DEFAULT '{}',
    essay_count              integer NOT NULL,
    completed_essay_count    integer NOT NULL DEFAULT 0,
    failed_essay_count       integer NOT NULL DEFAULT 0,
    processing_started_at    timestamptz,
    processing_completed_at  timestamptz,
    last_error               text,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT batch_results_counts_check CHECK (
        essay_count >= 0 AND completed_essay_count >= 0 AND failed_essay_count >= 0
        AND completed_essay_count + failed_essay_count <= essay_count),
    CONSTRAINT batch_results_completion_check CHECK (
        (processing_completed_at IS NOT NULL)
        = (overall_status IN ('completed_successfully', 'completed_with_failures', 'failed', 'cancelled')))
);

CREATE INDEX idx_batch_results_user ON batch_results (user_id, created_at DESC);
CREATE INDEX idx_batch_results_class ON batch_results (class_id) WHERE class_id IS NOT NULL;

CREATE TRIGGER batch_results_set_updated_at
    BEFORE UPDATE ON batch_results
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE essay_results (
    essay_id                     uuid PRIMARY KEY,    -- essay_lifecycle_service.essay_states.essay_id
    batch_id                     uuid NOT NULL REFERENCES batch_results (batch_id) ON DELETE CASCADE,
    student_id                   uuid,                -- class_management_service.students.id
    filename                     varchar(500),
    spellcheck_status            phase_result_status NOT NULL DEFAULT 'pending',
    spellcheck_correction_count  integer,
    spellcheck_corrected_text_id varchar(255),
    nlp_status                   phase_result_status NOT NULL DEFAULT 'pending',
    nlp_word_count               integer,
    nlp_lexical_diversity        numeric(6, 3),
    cj_status                    phase_result_status NOT NULL DEFAULT 'pending',
    cj_rank                      integer,
    cj_score                     double precision,
    cj_grade                     varchar(3),
    last_error                   text,
    created_at                   timestamptz NOT NULL DEFAULT now(),
    updated_at                   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT essay_results_spellcheck_check CHECK (
        spellcheck_status <> 'success' OR spellcheck_correction_count IS NOT NULL),
    CONSTRAINT essay_results_cj_check CHECK (
        (cj_status = 'success') = (cj_rank IS NOT NULL AND cj_score IS NOT NULL)),
    CONSTRAINT essay_results_cj_rank_check CHECK (cj_rank IS NULL OR cj_rank >= 1),
    CONSTRAINT essay_results_grade_check CHECK (cj_grade ~ '^[A-F][+-]?$')
);

CREATE INDEX idx_essay_results_batch ON essay_results (batch_id);
CREATE INDEX idx_essay_results_student ON essay_results (student_id) WHERE student_id IS NOT NULL;

CREATE TRIGGER essay_results_set_updated_at
    BEFORE UPDATE ON essay_results
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Events already folded in: consumers are idempotent across Kafka redeliveries.
CREATE TABLE processed_events (
    event_id      uuid PRIMARY KEY,
    event_type    varchar(200) NOT NULL,
    batch_id      uuid,
    processed_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX idx_processed_events_processed_at ON processed_events (processed_at);
