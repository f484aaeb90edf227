-- Each file's state history, derived from where it stands now. Re-runnable: an event is only
-- added when the file has no event into that state yet.
WITH paths AS (
    SELECT f.id, f.created_at, f.status,
           CASE f.status
               WHEN 'text_extracted' THEN '{pending_upload,uploaded,validating,extracting_text,text_extracted}'
               WHEN 'extracting_text' THEN '{pending_upload,uploaded,validating,extracting_text}'
               WHEN 'rejected' THEN '{pending_upload,uploaded,validating,rejected}'
           END::file_processing_status[] AS path,
           f.validation_error_code, f.word_count
      FROM file_uploads f
)
INSERT INTO file_processing_events (file_upload_id, from_status, to_status, detail, occurred_at)
SELECT p.id, p.path[i - 1], p.path[i],
       CASE p.path[i]
           WHEN 'rejected' THEN jsonb_build_object('error_code', p.validation_error_code)
           WHEN 'text_extracted' THEN jsonb_build_object('word_count', p.word_count, 'extractor', 'docx2txt-1.4')
           ELSE '{}'::jsonb
       END,
       p.created_at + (i - 1) * interval '40 seconds'
  FROM paths p
 CROSS JOIN LATERAL generate_subscripts(p.path, 1) i
 WHERE NOT EXISTS (SELECT 1 FROM file_processing_events ev
                    WHERE ev.file_upload_id = p.id AND ev.to_status = p.path[i]);
