-- Spellchecker Service: spell-check jobs per essay, the corrections they made, and the
-- dictionary of typical second-language (L2) learner errors applied before the general
-- spell checker.

CREATE TYPE spellcheck_job_status AS ENUM ('pending', 'in_progress', 'success', 'failed');

CREATE TYPE correction_source AS ENUM ('l2_dictionary', 'spell_checker', 'whitelist');

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

CREATE TABLE spellcheck_jobs (
    job_id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    batch_id                   uuid NOT NULL,         -- batch_orchestrator_service.batches.id
    essay_id                   uuid NOT NULL,         -- essay_lifecycle_service.essay_states.essay_id
    correlation_id             uuid NOT NULL,
    language                   char(2) NOT NULL DEFAULT 'en',
    status                     spellcheck_job_status NOT NULL DEFAULT 'pending',
    text_storage_id            varchar(255) NOT NULL,
    corrected_text_storage_id  varchar(255),
    total_tokens               integer,
    correction_count           integer,
    processing_ms              integer,
    attempt                    smallint NOT NULL DEFAULT 1,
    error_code                 varchar(50),
    error_detail               jsonb,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now(),
    started_at                 timestamptz,
    completed_at               timestamptz,
    CONSTRAINT spellcheck_jobs_language_check CHECK (language IN ('en', 'sv')),
    CONSTRAINT spellcheck_jobs_attempt_check CHECK (attempt BETWEEN 1 AND 5),
    CONSTRAINT spellcheck_jobs_counts_check CHECK (
        coalesce(total_tokens, 0) >= 0 AND coalesce(correction_count, 0) BETWEEN 0 AND coalesce(total_tokens, 0)),
    CONSTRAINT spellcheck_jobs_success_check CHECK (
        status <> 'success' OR (corrected_text_storage_id IS NOT NULL AND completed_at IS NOT NULL)),
    CONSTRAINT spellcheck_jobs_failure_check CHECK ((status = 'failed') = (error_code IS NOT NULL)),
    CONSTRAINT spellcheck_jobs_essay_attempt_key UNIQUE (essay_id, batch_id, attempt)
);

CREATE INDEX idx_spellcheck_jobs_batch ON spellcheck_jobs (batch_id, status);
-- At most one job per essay at work at a time.
CREATE UNIQUE INDEX uq_spellcheck_jobs_active_essay ON spellcheck_jobs (essay_id)
    WHERE status IN ('pending', 'in_progress');

CREATE TRIGGER spellcheck_jobs_set_updated_at
    BEFORE UPDATE ON spellcheck_jobs
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE spellcheck_corrections (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id           uuid NOT NULL REFERENCES spellcheck_jobs (job_id) ON DELETE CASCADE,
    token_index      integer NOT NULL,
    char_start       integer NOT NULL,
    char_end         integer NOT NULL,
    original_token   varchar(100) NOT NULL,
    corrected_token  varchar(100) NOT NULL,
    source           correction_source NOT NULL,
    CONSTRAINT spellcheck_corrections_job_token_key UNIQUE (job_id, token_index),
    CONSTRAINT spellcheck_corrections_span_check CHECK (char_start >= 0 AND char_end > char_start),
    CONSTRAINT spellcheck_corrections_change_check CHECK (original_token <> corrected_token)
);

CREATE TABLE l2_error_dictionary (
    id            integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    language      char(2) NOT NULL,
    misspelling   varchar(100) NOT NULL,
    correction    varchar(100) NOT NULL,
    frequency     integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT l2_error_dictionary_language_check CHECK (language IN ('en', 'sv')),
    CONSTRAINT l2_error_dictionary_frequency_check CHECK (frequency >= 0),
    CONSTRAINT l2_error_dictionary_change_check CHECK (misspelling <> correction)
);

CREATE UNIQUE INDEX uq_l2_error_dictionary_entry ON l2_error_dictionary (language, lower(misspelling));
