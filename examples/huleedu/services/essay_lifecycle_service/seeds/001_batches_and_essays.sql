-- The 8 seed batches (see examples/huleedu/README.md) and their 160 essay slots.
-- Re-runnable: ON CONFLICT DO NOTHING on batch_id and essay_id.

INSERT INTO batch_essay_trackers (batch_id, correlation_id, user_id, course_code, expected_count,
                                  is_ready, created_at, updated_at, completed_at)
SELECT md5('huleedu:batch:' || b.n)::uuid,
       md5('huleedu:batch-correlation:' || b.n)::uuid,
       md5('huleedu:user:' || (((b.n - 1) % 6) / 2 + 1))::uuid,
       b.course_code,
       20,
       b.n <= 7,
       timestamptz '2025-09-01 07:30+00' + (b.n - 1) * interval '4 days',
       timestamptz '2025-09-01 07:30+00' + (b.n - 1) * interval '4 days' + interval '2 hours',
       CASE WHEN b.n <= 3 THEN timestamptz '2025-09-01 07:30+00' + (b.n - 1) * interval '4 days' + interval '2 hours' END
  FROM (VALUES (1, 'ENG5'), (2, 'ENG5'), (3, 'ENG6'), (4, 'ENG6'),
               (5, 'SV1'), (6, 'SV1'), (7, 'ENG5'), (8, 'ENG5')) AS b (n, course_code)
ON CONFLICT (batch_id) DO NOTHING;

INSERT INTO essay_states (essay_id, batch_id, current_status, original_file_name, file_upload_id,
                          text_storage_id, processing_metadata, storage_references,
                          created_at, updated_at)
SELECT md5('huleedu:essay:' || b || ':' || e)::uuid,
       md5('huleedu:batch:' || b)::uuid,
       'uploaded',
       format('essay_%s_%s.docx', b, lpad(e::text, 2, '0')),
       md5('huleedu:file:' || b || ':' || e)::uuid,
       NULL,
       jsonb_build_object('last_event_type', 'huleedu.file.essay.uploaded.v1',
                          'last_correlation_id', md5('huleedu:batch-correlation:' || b)::uuid),
       jsonb_build_object('original_file', 'raw-' || md5('huleedu:file:' || b || ':' || e)),
       timestamptz '2025-09-01 07:30+00' + (b - 1) * interval '4 days' + e * interval '20 seconds',
       timestamptz '2025-09-01 07:30+00' + (b - 1) * interval '4 days' + e * interval '20 seconds'
  FROM generate_series(1, 8) b, generate_series(1, 20) e
ON CONFLICT (essay_id) DO NOTHING;
