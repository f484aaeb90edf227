DROP INDEX idx_cj_processed_essays_anchor;
ALTER TABLE cj_processed_essays DROP COLUMN anchor_reference_id;
DROP TABLE anchor_essay_references;
