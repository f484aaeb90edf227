-- NLP Service: linguistic analysis of each essay (lexical diversity, readability, grammar
-- issues) and roster matching (which student of the class wrote it).

CREATE TYPE nlp_analysis_status AS ENUM ('pending', 'processing', 'completed', 'failed');

CREATE TYPE grammar_issue_category AS ENUM (
    'grammar', 'agreement', 'tense', 'punctuation', 'word_order', 'style', 'typography'
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

CREATE TABLE nlp_analyses (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    essay_id             uuid NOT NULL,               -- essay_lifecycle_service.essay_states.essay_id
    batch_id             uuid NOT NULL,               -- batch_orchestrator_service.batches.id
    correlation_id       uuid NOT NULL,
    language             char(2) NOT NULL,
    analyzer_version     varchar(20) NOT NULL,
    status               nlp_analysis_status NOT NULL DEFAULT 'pending',
    text_storage_id      varchar(255) NOT NULL,
    word_count           integer,
    sentence_count       integer,
    avg_sentence_length  numeric(6, 2),
    type_token_ratio     numeric(4, 3),
    mtld                 numeric(6, 3),               -- measure of textual lexical diversity
    flesch_kincaid_grade numeric(4, 1),
    features             jsonb NOT NULL DEFAULT '{}',
    error_code           varchar(50),
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    completed_at         timestamptz,
    CONSTRAINT nlp_analyses_essay_version_key UNIQUE (essay_id, analyzer_version),
    CONSTRAINT nlp_analyses_language_check CHECK (language IN ('en', 'sv')),
    CONSTRAINT nlp_analyses_ttr_check CHECK (type_token_ratio BETWEEN 0 AND 1),
    CONSTRAINT nlp_analyses_counts_check CHECK (word_count >= 0 AND sentence_count >= 0),
    CONSTRAINT nlp_analyses_completed_check CHECK (
        (status = 'completed') = (completed_at IS NOT NULL AND word_count IS NOT NULL)),
    CONSTRAINT nlp_analyses_failed_check CHECK ((status = 'failed') = (error_code IS NOT NULL))
);

CREATE INDEX idx_nlp_analyses_batch ON nlp_analyses (batch_id, status);

CREATE TRIGGER nlp_analyses_set_updated_at
    BEFORE UPDATE ON nlp_analyses
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE grammar_issues (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    analysis_id  uuid NOT NULL REFERENCES nlp_analyses (id) ON DELETE CASCADE,
    rule_id      varchar(100) NOT NULL,
    category     grammar_issue_category NOT NULL,
    message      text NOT NULL,
    char_offset  integer NOT NULL,
    char_length  integer NOT NULL,
    suggestions  text[] NOT NULL DEFAULT '{}',
    CONSTRAINT grammar_issues_span_check CHECK (char_offset >= 0 AND char_length > 0),
    CONSTRAINT grammar_issues_position_key UNIQUE (analysis_id, char_offset, rule_id)
);

CREATE INDEX idx_grammar_issues_category ON grammar_issues (category);

-- Roster matching: names found in the essay matched against the class's students.
CREATE TABLE student_match_suggestions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    essay_id        uuid NOT NULL,
    batch_id        uuid NOT NULL,
    student_id      uuid NOT NULL,                    -- class_management_service.students.id
    extracted_name  varchar(255),
    match_reason    varchar(20) NOT NULL,
    confidence      numeric(4, 3) NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT student_match_suggestions_essay_student_key UNIQUE (essay_id, student_id),
    CONSTRAINT student_match_suggestions_reason_check
        CHECK (match_reason IN ('name_exact', 'name_fuzzy', 'email', 'filename')),
    CONSTRAINT student_match_suggestions_confidence_check CHECK (confidence BETWEEN 0 AND 1)
);

CREATE INDEX idx_student_match_suggestions_batch ON student_match_suggestions (batch_id);
