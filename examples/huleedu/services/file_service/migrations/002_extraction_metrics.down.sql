DROP VIEW batch_upload_summary;

ALTER TABLE file_uploads
    DROP CONSTRAINT file_uploads_counts_check,
    DROP COLUMN detected_language,
    DROP COLUMN word_count,
    DROP COLUMN page_count;
