-- Batch Orchestrator Service (BOS): a teacher's batch of essays and the state of each pipeline
-- phase (spellcheck → NLP → CJ assessment → AI feedback) that runs over it.

CREATE TYPE batch_status AS ENUM (
    'awaiting_content_validation',
    'content_ingestion_failed',
    'awaiting_pipeline_configuration',
    'ready_for_pipeline_execution',
    'processing_pipelines',
    'awaiting_student_validation',
    'validation_timeout_processed',
    'completed_successfully',
    'completed_with_failures',
    'failed_critically',
    'cancelled'
);

CREATE TYPE pipeline_phase AS ENUM ('spellcheck', 'nlp', 'cj_assessment', 'ai_feedback');

CREATE TYPE phase_status AS ENUM (
    'pending',
    'dispatched',
    'in_progress',
    'completed',
    'completed_with_failures',
    'failed',
    'skipped'
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

CREATE TABLE batches (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    correlation_id        uuid NOT NULL,
    user_id               uuid NOT NULL,              -- the teacher (identity provider)
    org_id                uuid,                       -- school, when the teacher belongs to one
    class_id              uuid,                       -- class_management_service.classes.id
    course_code           varchar(20) NOT NULL,
    language              char(2) NOT NULL DEFAULT 'en',
    essay_instructions    text,
    expected_essay_count  integer NOT NULL,
    status                batch_status NOT NULL DEFAULT 'awaiting_content_validation',
    requested_pipelines   pipeline_phase[] NOT NULL DEFAULT '{}',
    pipeline_configuration jsonb NOT NULL DEFAULT '{}',
    version               integer NOT NULL DEFAULT 1,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    completed_at          timestamptz,
    CONSTRAINT batches_language_check CHECK (language IN ('en', 'sv')),
    CONSTRAINT batches_course_code_check CHECK (course_code ~ '^[A-Z]{2,4}[0-9]{0,2}$'),
    CONSTRAINT batches_expected_essay_count_check CHECK (expected_essay_count BETWEEN 1 AND 500),
    CONSTRAINT batches_version_check CHECK (version >= 1),
    CONSTRAINT batches_completed_at_check CHECK (
        (completed_at IS NOT NULL) = (status IN ('completed_successfully', 'completed_with_failures',
                                                 'failed_critically', 'cancelled'))
    )
);

CREATE INDEX idx_batches_user_created ON batches (user_id, created_at DESC);
CREATE INDEX idx_batches_class ON batches (class_id) WHERE class_id IS NOT NULL;
CREATE INDEX idx_batches_active_status ON batches (status)
    WHERE status NOT IN ('completed_successfully', 'completed_with_failures', 'failed_critically', 'cancelled');

CREATE TRIGGER batches_set_updated_at
    BEFORE UPDATE ON batches
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- One row per phase a batch runs, in execution order.
CREATE TABLE batch_pipeline_phases (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    batch_id          uuid NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    phase             pipeline_phase NOT NULL,
    sequence          smallint NOT NULL,
    status            phase_status NOT NULL DEFAULT 'pending',
    essays_total      integer NOT NULL DEFAULT 0,
    essays_succeeded  integer NOT NULL DEFAULT 0,
    essays_failed     integer NOT NULL DEFAULT 0,
    dispatched_at     timestamptz,
    started_at        timestamptz,
    finished_at       timestamptz,
    last_error        text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT batch_pipeline_phases_batch_phase_key UNIQUE (batch_id, phase),
    CONSTRAINT batch_pipeline_phases_batch_sequence_key UNIQUE (batch_id, sequence),
    CONSTRAINT batch_pipeline_phases_sequence_check CHECK (sequence BETWEEN 1 AND 10),
    CONSTRAINT batch_pipeline_phases_counts_check CHECK (
        essays_total >= 0 AND essays_succeeded >= 0 AND essays_failed >= 0
        AND essays_succeeded + essays_failed <= essays_total
    ),
    CONSTRAINT batch_pipeline_phases_times_check CHECK (finished_at IS NULL OR started_at <= finished_at)
);

CREATE INDEX idx_batch_pipeline_phases_running ON batch_pipeline_phases (phase, status)
    WHERE status IN ('dispatched', 'in_progress');

CREATE TRIGGER batch_pipeline_phases_set_updated_at
    BEFORE UPDATE ON batch_pipeline_phases
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Transactional outbox: events are written with the state change and relayed to Kafka.
CREATE TABLE event_outbox (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    aggregate_type  varchar(50) NOT NULL,
    aggregate_id    uuid NOT NULL,
    event_type      varchar(200) NOT NULL,
    topic           varchar(200) NOT NULL,
    event_key       varchar(200),
    payload         jsonb NOT NULL,
    retry_count     integer NOT NULL DEFAULT 0,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    published_at    timestamptz,
    CONSTRAINT event_outbox_retry_count_check CHECK (retry_count BETWEEN 0 AND 100)
);

CREATE INDEX idx_event_outbox_unpublished ON event_outbox (created_at) WHERE published_at IS NULL;
CREATE INDEX idx_event_outbox_aggregate ON event_outbox (aggregate_type, aggregate_id);
