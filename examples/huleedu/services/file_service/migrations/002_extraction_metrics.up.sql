-- What text extraction found: word and page counts and the detected language, so that empty
-- or wrong-language submissions are rejected before they reach the pipeline.
ALTER TABLE file_uploads
    ADD COLUMN page_count integer,
    ADD COLUMN word_count integer,
    ADD COLUMN detected_language char(2),
    ADD CONSTRAINT file_uploads_counts_check CHECK (
        (page_count IS NULL OR page_count >= 0) AND (word_count IS NULL OR word_count >= 0));

-- Per batch: what the teacher sees on the upload screen.
CREATE VIEW batch_upload_summary AS
SELECT batch_id,
       count(*)                                              AS files,
       count(*) FILTER (WHERE status = 'text_extracted')     AS extracted,
       count(*) FILTER (WHERE status IN ('rejected', 'failed')) AS rejected,
       sum(size_bytes)                                       AS total_bytes,
       round(avg(word_count))                                AS avg_word_count,
       max(updated_at)                                       AS last_activity_at
  FROM file_uploads
 GROUP BY batch_id;
