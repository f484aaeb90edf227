-- One uploaded file per seed essay (8 batches × 20), plus two files that validation rejected.
-- Batch 8's last six files are still being extracted; batch 3's essays 7 and 15 came out empty.
-- Re-runnable: ON CONFLICT DO NOTHING on the file id.

INSERT INTO file_uploads (id, batch_id, user_id, correlation_id, original_filename, content_type,
                          size_bytes, sha256, raw_file_storage_id, text_storage_id, status,
                          page_count, word_count, detected_language, uploaded_at, processed_at,
                          created_at, updated_at)
SELECT md5('huleedu:file:' || b || ':' || e)::uuid,
       md5('huleedu:batch:' || b)::uuid,
       md5('huleedu:user:' || (((b - 1) % 6) / 2 + 1))::uuid,
       md5('huleedu:batch-correlation:' || b)::uuid,
       format('essay_%s_%s.%s', b, lpad(e::text, 2, '0'), ext),
       CASE ext WHEN 'pdf' THEN 'application/pdf' WHEN 'txt' THEN 'text/plain'
                ELSE 'application/vnd.openxmlformats-officedocument.wordprocessingml.document' END,
       CASE ext WHEN 'txt' THEN 1800 + words * 6 ELSE 14000 + words * 9 END,
       encode(sha256(convert_to('huleedu:file:' || b || ':' || e, 'UTF8')), 'hex'),
       'raw-' || md5('huleedu:file:' || b || ':' || e),
       CASE WHEN extracted THEN 'content-' || md5('huleedu:text:' || b || ':' || e) END,
       CASE WHEN extracted THEN 'text_extracted' ELSE 'extracting_text' END::file_processing_status,
       CASE WHEN extracted THEN 1 + words / 350 END,
       CASE WHEN extracted THEN words END,
       CASE WHEN extracted THEN CASE WHEN b IN (5, 6) THEN 'sv' ELSE 'en' END END,
       created + interval '2 seconds',
       CASE WHEN extracted THEN created + interval '3 minutes' END,
       created,
       created + CASE WHEN extracted THEN interval '3 minutes' ELSE interval '1 minute' END
  FROM generate_series(1, 8) b
 CROSS JOIN generate_series(1, 20) e
 CROSS JOIN LATERAL (SELECT
        CASE WHEN e % 9 = 0 THEN 'txt' WHEN e % 6 = 0 THEN 'pdf' ELSE 'docx' END AS ext,
        CASE WHEN b = 3 AND e IN (7, 15) THEN 0
             ELSE 250 + ('x' || substr(md5('huleedu:words:' || b || ':' || e), 1, 4))::bit(16)::int % 450
        END AS words,
        NOT (b = 8 AND e > 14) AS extracted,
        timestamptz '2025-09-01 07:30+00' + (b - 1) * interval '4 days' + e * interval '20 seconds' AS created) x
ON CONFLICT (id) DO NOTHING;

INSERT INTO file_uploads (id, batch_id, user_id, correlation_id, original_filename, content_type,
                          size_bytes, sha256, raw_file_storage_id, status, validation_error_code,
                          validation_error, uploaded_at, processed_at, created_at, updated_at)
VALUES
    (md5('huleedu:file:rejected:1')::uuid, md5('huleedu:batch:4')::uuid, md5('huleedu:user:2')::uuid,
     md5('huleedu:batch-correlation:4')::uuid, 'scan_from_phone.pdf', 'application/pdf', 2483311,
     encode(sha256(convert_to('huleedu:file:rejected:1', 'UTF8')), 'hex'), 'raw-' || md5('huleedu:file:rejected:1'),
     'rejected', 'NO_EXTRACTABLE_TEXT', 'The PDF contains only images; upload the original document.',
     timestamptz '2025-09-13 07:40+00', timestamptz '2025-09-13 07:41+00',
     timestamptz '2025-09-13 07:40+00', timestamptz '2025-09-13 07:41+00'),
    (md5('huleedu:file:rejected:2')::uuid, md5('huleedu:batch:5')::uuid, md5('huleedu:user:3')::uuid,
     md5('huleedu:batch-correlation:5')::uuid, 'kronika_final_FINAL.docx',
     'application/vnd.openxmlformats-officedocument.wordprocessingml.document', 23554,
     encode(sha256(convert_to('huleedu:file:rejected:2', 'UTF8')), 'hex'), 'raw-' || md5('huleedu:file:rejected:2'),
     'rejected', 'LANGUAGE_MISMATCH', 'The text is in English; the batch expects Swedish.',
     timestamptz '2025-09-17 07:45+00', timestamptz '2025-09-17 07:48+00',
     timestamptz '2025-09-17 07:45+00', timestamptz '2025-09-17 07:48+00')
ON CONFLICT (id) DO NOTHING;
