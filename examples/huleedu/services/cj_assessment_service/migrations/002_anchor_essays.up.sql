-- Anchor essays: essays graded by teachers that are mixed into a batch's comparisons, so that
-- Bradley–Terry scores can be mapped to grades on the national scale.

CREATE TABLE anchor_essay_references (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    course_code      varchar(20) NOT NULL,
    language         char(2) NOT NULL,
    grade            varchar(3) NOT NULL,
    text_storage_id  varchar(255) NOT NULL,
    created_by       uuid NOT NULL,                   -- the teacher who graded it
    retired_at       timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT anchor_essay_references_text_key UNIQUE (course_code, language, text_storage_id),
    CONSTRAINT anchor_essay_references_grade_check CHECK (grade ~ '^[A-F][+-]?$'),
    CONSTRAINT anchor_essay_references_language_check CHECK (language IN ('en', 'sv'))
);

CREATE INDEX idx_anchor_essay_references_course ON anchor_essay_references (course_code, language, grade)
    WHERE retired_at IS NULL;

ALTER TABLE cj_processed_essays
    ADD COLUMN anchor_reference_id bigint
        CONSTRAINT cj_processed_essays_anchor_reference_fkey
        REFERENCES anchor_essay_references (id) ON DELETE SET NULL;

CREATE INDEX idx_cj_processed_essays_anchor ON cj_processed_essays (anchor_reference_id)
    WHERE anchor_reference_id IS NOT NULL;
