-- CJ Assessment Service: comparative judgement. Essays of a batch are compared in pairs (by an
-- LLM or a teacher); a Bradley–Terry model turns the judgements into scores, ranks and grades.

CREATE TYPE cj_batch_state AS ENUM (
    'INITIALIZING',
    'GENERATING_PAIRS',
    'WAITING_CALLBACKS',
    'SCORING',
    'COMPLETED',
    'FAILED',
    'CANCELLED'
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

CREATE TABLE cj_batch_uploads (
    id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    bos_batch_id           uuid NOT NULL,             -- batch_orchestrator_service.batches.id
    event_correlation_id   uuid NOT NULL,
    language               char(2) NOT NULL,
    course_code            varchar(20) NOT NULL,
    essay_instructions     text,
    expected_essay_count   integer NOT NULL,
    state                  cj_batch_state NOT NULL DEFAULT 'INITIALIZING',
    comparison_budget      integer NOT NULL,
    comparisons_submitted  integer NOT NULL DEFAULT 0,
    comparisons_completed  integer NOT NULL DEFAULT 0,
    current_iteration      smallint NOT NULL DEFAULT 0,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    completed_at           timestamptz,
    CONSTRAINT cj_batch_uploads_bos_batch_correlation_key UNIQUE (bos_batch_id, event_correlation_id),
    CONSTRAINT cj_batch_uploads_language_check CHECK (language IN ('en', 'sv')),
    CONSTRAINT cj_batch_uploads_expected_count_check CHECK (expected_essay_count BETWEEN 2 AND 500),
    CONSTRAINT cj_batch_uploads_progress_check CHECK (
        comparison_budget > 0
        AND comparisons_completed BETWEEN 0 AND comparisons_submitted
        AND comparisons_submitted <= comparison_budget
    ),
    CONSTRAINT cj_batch_uploads_completed_check CHECK ((completed_at IS NOT NULL) = (state = 'COMPLETED'))
);

CREATE INDEX idx_cj_batch_uploads_bos_batch ON cj_batch_uploads (bos_batch_id);
CREATE INDEX idx_cj_batch_uploads_active ON cj_batch_uploads (state, updated_at)
    WHERE state IN ('GENERATING_PAIRS', 'WAITING_CALLBACKS', 'SCORING');

CREATE TRIGGER cj_batch_uploads_set_updated_at
    BEFORE UPDATE ON cj_batch_uploads
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE cj_processed_essays (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cj_batch_id       bigint NOT NULL REFERENCES cj_batch_uploads (id) ON DELETE CASCADE,
    els_essay_id      uuid NOT NULL,                  -- essay_lifecycle_service.essay_states.essay_id
    text_storage_id   varchar(255) NOT NULL,
    current_bt_score  double precision,
    current_bt_se     double precision,
    comparison_count  integer NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT cj_processed_essays_batch_essay_key UNIQUE (cj_batch_id, els_essay_id),
    CONSTRAINT cj_processed_essays_se_check CHECK (current_bt_se IS NULL OR current_bt_se >= 0),
    CONSTRAINT cj_processed_essays_count_check CHECK (comparison_count >= 0)
);

CREATE INDEX idx_cj_processed_essays_els_essay ON cj_processed_essays (els_essay_id);

CREATE TRIGGER cj_processed_essays_set_updated_at
    BEFORE UPDATE ON cj_processed_essays
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Pairs are stored in canonical order (a < b); which one the judge sees first is random.
CREATE TABLE cj_comparison_pairs (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cj_batch_id        bigint NOT NULL REFERENCES cj_batch_uploads (id) ON DELETE CASCADE,
    essay_a_id         bigint NOT NULL REFERENCES cj_processed_essays (id) ON DELETE CASCADE,
    essay_b_id         bigint NOT NULL REFERENCES cj_processed_essays (id) ON DELETE CASCADE,
    iteration          smallint NOT NULL DEFAULT 1,
    a_presented_first  boolean NOT NULL DEFAULT true,
    status             varchar(20) NOT NULL DEFAULT 'pending',
    created_at         timestamptz NOT NULL DEFAULT now(),
    submitted_at       timestamptz,
    CONSTRAINT cj_comparison_pairs_canonical_check CHECK (essay_a_id < essay_b_id),
    CONSTRAINT cj_comparison_pairs_status_check CHECK (status IN ('pending', 'submitted', 'completed', 'failed')),
    CONSTRAINT cj_comparison_pairs_iteration_check CHECK (iteration >= 1),
    CONSTRAINT cj_comparison_pairs_unique_key UNIQUE (cj_batch_id, essay_a_id, essay_b_id, iteration)
);

CREATE INDEX idx_cj_comparison_pairs_essay_b ON cj_comparison_pairs (essay_b_id);
CREATE INDEX idx_cj_comparison_pairs_open ON cj_comparison_pairs (cj_batch_id)
    WHERE status IN ('pending', 'submitted');

-- Judgements: one or more per pair (an LLM, and optionally teachers for calibration).
CREATE TABLE cj_comparisons (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pair_id                 bigint NOT NULL REFERENCES cj_comparison_pairs (id) ON DELETE CASCADE,
    judge_kind              varchar(10) NOT NULL,
    judge_ref               varchar(100) NOT NULL,    -- model id, or the teacher's user id
    request_correlation_id  uuid NOT NULL,
    winner_essay_id         bigint REFERENCES cj_processed_essays (id) ON DELETE CASCADE,
    confidence              numeric(2, 1),
    justification           text,
    prompt_tokens           integer,
    completion_tokens       integer,
    response_ms             integer,
    error_code              varchar(50),
    created_at              timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT cj_comparisons_request_correlation_key UNIQUE (request_correlation_id),
    CONSTRAINT cj_comparisons_judge_kind_check CHECK (judge_kind IN ('llm', 'teacher')),
    CONSTRAINT cj_comparisons_confidence_check CHECK (confidence BETWEEN 1 AND 5),
    CONSTRAINT cj_comparisons_outcome_check CHECK ((winner_essay_id IS NULL) = (error_code IS NOT NULL)),
    CONSTRAINT cj_comparisons_usage_check CHECK (
        coalesce(prompt_tokens, 0) >= 0 AND coalesce(completion_tokens, 0) >= 0 AND coalesce(response_ms, 0) >= 0
    )
);

CREATE INDEX idx_cj_comparisons_pair ON cj_comparisons (pair_id);
CREATE INDEX idx_cj_comparisons_winner ON cj_comparisons (winner_essay_id);

-- The winner must be one of the pair's two essays (a CHECK cannot look at another table).
CREATE FUNCTION check_comparison_winner() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.winner_essay_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM cj_comparison_pairs p
         WHERE p.id = NEW.pair_id AND NEW.winner_essay_id IN (p.essay_a_id, p.essay_b_id)
    ) THEN
        RAISE EXCEPTION 'essay % is not part of comparison pair %', NEW.winner_essay_id, NEW.pair_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER cj_comparisons_check_winner
    BEFORE INSERT OR UPDATE OF winner_essay_id, pair_id ON cj_comparisons
    FOR EACH ROW EXECUTE FUNCTION check_comparison_winner();

CREATE TABLE cj_essay_rankings (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cj_batch_id        bigint NOT NULL REFERENCES cj_batch_uploads (id) ON DELETE CASCADE,
    essay_id           bigint NOT NULL REFERENCES cj_processed_essays (id) ON DELETE CASCADE,
    rank               integer NOT NULL,
    bt_score           double precision NOT NULL,
    bt_se              double precision NOT NULL,
    comparison_count   integer NOT NULL,
    grade              varchar(3),
    grade_probability  numeric(4, 3),
    computed_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT cj_essay_rankings_batch_essay_key UNIQUE (cj_batch_id, essay_id),
    CONSTRAINT cj_essay_rankings_batch_rank_key UNIQUE (cj_batch_id, rank),
    CONSTRAINT cj_essay_rankings_rank_check CHECK (rank >= 1),
    CONSTRAINT cj_essay_rankings_se_check CHECK (bt_se >= 0),
    CONSTRAINT cj_essay_rankings_grade_check CHECK (grade ~ '^[A-F][+-]?$'),
    CONSTRAINT cj_essay_rankings_probability_check CHECK (grade_probability BETWEEN 0 AND 1)
);

CREATE INDEX idx_cj_essay_rankings_essay ON cj_essay_rankings (essay_id);
