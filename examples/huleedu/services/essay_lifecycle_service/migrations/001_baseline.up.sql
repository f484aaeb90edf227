-- Essay Lifecycle Service (ELS): each essay's state in the processing pipeline, the batches it
-- arrives in, and every state transition it goes through (written by a trigger, so no code
-- path can change a status without leaving a trace).

CREATE TYPE essay_status AS ENUM (
    'uploaded',
    'text_extracted',
    'content_ingestion_failed',
    'ready_for_processing',
    'awaiting_spellcheck',
    'spellchecking_in_progress',
    'spellchecked_success',
    'spellcheck_failed',
    'awaiting_nlp',
    'nlp_processing_in_progress',
    'nlp_success',
    'nlp_failed',
    'awaiting_cj_assessment',
    'cj_assessment_processing_in_progress',
    'cj_assessment_success',
    'cj_assessment_failed',
    'all_processing_completed',
    'essay_critical_failure'
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

-- What ELS expects of a batch registered by the Batch Orchestrator.
CREATE TABLE batch_essay_trackers (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    batch_id         uuid NOT NULL,                   -- batch_orchestrator_service.batches.id
    correlation_id   uuid NOT NULL,
    user_id          uuid NOT NULL,
    course_code      varchar(20) NOT NULL,
    expected_count   integer NOT NULL,
    timeout_seconds  integer NOT NULL DEFAULT 86400,
    is_ready         boolean NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz,
    CONSTRAINT batch_essay_trackers_batch_id_key UNIQUE (batch_id),
    CONSTRAINT batch_essay_trackers_expected_count_check CHECK (expected_count BETWEEN 1 AND 500),
    CONSTRAINT batch_essay_trackers_timeout_check CHECK (timeout_seconds BETWEEN 60 AND 604800)
);

CREATE TRIGGER batch_essay_trackers_set_updated_at
    BEFORE UPDATE ON batch_essay_trackers
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE essay_states (
    essay_id             uuid PRIMARY KEY,
    batch_id             uuid REFERENCES batch_essay_trackers (batch_id) ON DELETE SET NULL,
    current_status       essay_status NOT NULL DEFAULT 'uploaded',
    original_file_name   varchar(500) NOT NULL,
    file_upload_id       uuid,                        -- file_service.file_uploads.id
    text_storage_id      varchar(255),                -- content service reference
    processing_metadata  jsonb NOT NULL DEFAULT '{}',
    storage_references   jsonb NOT NULL DEFAULT '{}',
    version              integer NOT NULL DEFAULT 1,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT essay_states_version_check CHECK (version >= 1),
    CONSTRAINT essay_states_metadata_check CHECK (jsonb_typeof(processing_metadata) = 'object')
);

CREATE INDEX idx_essay_states_batch_status ON essay_states (batch_id, current_status);
CREATE INDEX idx_essay_states_file_upload ON essay_states (file_upload_id);
-- Content idempotency: a text is assigned to at most one essay slot of a batch.
CREATE UNIQUE INDEX uq_essay_states_batch_text_storage ON essay_states (batch_id, text_storage_id)
    WHERE text_storage_id IS NOT NULL;

CREATE TRIGGER essay_states_set_updated_at
    BEFORE UPDATE ON essay_states
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE essay_state_transitions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    essay_id        uuid NOT NULL REFERENCES essay_states (essay_id) ON DELETE CASCADE,
    batch_id        uuid,
    from_status     essay_status,
    to_status       essay_status NOT NULL,
    event_type      varchar(100) NOT NULL,
    correlation_id  uuid,
    metadata        jsonb,
    occurred_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT essay_state_transitions_change_check CHECK (from_status IS DISTINCT FROM to_status)
);

CREATE INDEX idx_essay_state_transitions_essay ON essay_state_transitions (essay_id, occurred_at);
CREATE INDEX idx_essay_state_transitions_batch ON essay_state_transitions (batch_id, occurred_at)
    WHERE batch_id IS NOT NULL;

-- The event that caused a change is taken from processing_metadata.last_event_type and
-- last_correlation_id, which the service sets in the same UPDATE.
CREATE FUNCTION record_essay_transition() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO essay_state_transitions (essay_id, batch_id, from_status, to_status, event_type,
                                         correlation_id, occurred_at)
    VALUES (NEW.essay_id,
            NEW.batch_id,
            CASE WHEN TG_OP = 'UPDATE' THEN OLD.current_status END,
            NEW.current_status,
            coalesce(NEW.processing_metadata ->> 'last_event_type',
                     CASE WHEN TG_OP = 'INSERT' THEN 'essay_slot_assigned' ELSE 'status_changed' END),
            (NEW.processing_metadata ->> 'last_correlation_id')::uuid,
            NEW.updated_at);
    RETURN NULL;
END;
$$;

CREATE TRIGGER essay_states_record_insert
    AFTER INSERT ON essay_states
    FOR EACH ROW EXECUTE FUNCTION record_essay_transition();

CREATE TRIGGER essay_states_record_transition
    AFTER UPDATE OF current_status ON essay_states
    FOR EACH ROW
    WHEN (OLD.current_status IS DISTINCT FROM NEW.current_status)
    EXECUTE FUNCTION record_essay_transition();
