DROP INDEX idx_nlp_analyses_cefr;

ALTER TABLE nlp_analyses
    DROP CONSTRAINT nlp_analyses_cefr_level_check,
    DROP COLUMN cefr_level;
