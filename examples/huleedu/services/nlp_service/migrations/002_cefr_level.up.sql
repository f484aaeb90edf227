-- An estimated CEFR level per analysis, backfilled from the features already computed.
ALTER TABLE nlp_analyses
    ADD COLUMN cefr_level varchar(2),
    ADD CONSTRAINT nlp_analyses_cefr_level_check CHECK (cefr_level IN ('A1', 'A2', 'B1', 'B2', 'C1', 'C2'));

UPDATE nlp_analyses
   SET cefr_level = features ->> 'cefr_estimate'
 WHERE features ? 'cefr_estimate';

CREATE INDEX idx_nlp_analyses_cefr ON nlp_analyses (batch_id, cefr_level) WHERE cefr_level IS NOT NULL;
