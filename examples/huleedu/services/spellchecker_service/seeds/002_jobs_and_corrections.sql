-- Spell-check jobs for every essay that reached spellchecking (batches 1–5), with their
-- corrections. Batch 3's essays 7 and 15 had no text; batch 5 is half-way.
-- Re-runnable: ON CONFLICT DO NOTHING on job_id and (job_id, token_index).

INSERT INTO spellcheck_jobs (job_id, batch_id, essay_id, correlation_id, language, status,
                             text_storage_id, corrected_text_storage_id, total_tokens,
                             correction_count, processing_ms, error_code, error_detail,
                             created_at, updated_at, started_at, completed_at)
SELECT md5('huleedu:spellcheck-job:' || b || ':' || e)::uuid,
       md5('huleedu:batch:' || b)::uuid,
       md5('huleedu:essay:' || b || ':' || e)::uuid,
       md5('huleedu:batch-correlation:' || b)::uuid,
       CASE WHEN b = 5 THEN 'sv' ELSE 'en' END,
       status::spellcheck_job_status,
       'content-' || md5('huleedu:text:' || b || ':' || e),
       CASE WHEN status = 'success' THEN 'content-' || md5('huleedu:corrected:' || b || ':' || e) END,
       CASE WHEN status <> 'in_progress' THEN words END,
       CASE WHEN status = 'success' THEN 2 + words % 11 WHEN status = 'failed' THEN 0 END,
       CASE WHEN status <> 'in_progress' THEN 300 + words * 3 END,
       CASE WHEN status = 'failed' THEN 'EMPTY_CONTENT' END,
       CASE WHEN status = 'failed' THEN '{"message": "extracted text has no tokens"}'::jsonb END,
       queued, queued + interval '1 minute', queued + interval '20 seconds',
       CASE WHEN status <> 'in_progress' THEN queued + interval '1 minute' END
  FROM generate_series(1, 5) b
 CROSS JOIN generate_series(1, 20) e
 CROSS JOIN LATERAL (SELECT
        CASE WHEN b = 3 AND e IN (7, 15) THEN 'failed'
             WHEN b = 5 AND e > 8 THEN 'in_progress'
             ELSE 'success' END AS status,
        CASE WHEN b = 3 AND e IN (7, 15) THEN 0
             ELSE 250 + ('x' || substr(md5('huleedu:words:' || b || ':' || e), 1, 4))::bit(16)::int % 450
        END AS words,
        timestamptz '2025-09-01 07:40+00' + (b - 1) * interval '4 days' + e * interval '20 seconds' AS queued) x
ON CONFLICT (job_id) DO NOTHING;

WITH pool AS (
    SELECT language, row_number() OVER (PARTITION BY language ORDER BY misspelling) - 1 AS i,
           count(*) OVER (PARTITION BY language) AS n, misspelling, correction, source
      FROM (SELECT language, misspelling, correction, 'l2_dictionary' AS source FROM l2_error_dictionary
            UNION ALL
            SELECT * FROM (VALUES ('en', 'studdents', 'students', 'spell_checker'),
                                  ('en', 'homewrok', 'homework', 'spell_checker'),
                                  ('en', 'teh', 'the', 'spell_checker'),
                                  ('en', 'importent', 'important', 'spell_checker'),
                                  ('sv', 'skärmtiid', 'skärmtid', 'spell_checker'),
                                  ('sv', 'ungdommar', 'ungdomar', 'spell_checker')) AS extra) p
)
INSERT INTO spellcheck_corrections (job_id, token_index, char_start, char_end, original_token,
                                    corrected_token, source)
SELECT j.job_id,
       k * 23 + h % 17,
       (k * 23 + h % 17) * 6,
       (k * 23 + h % 17) * 6 + length(p.misspelling),
       p.misspelling, p.correction, p.source::correction_source
  FROM spellcheck_jobs j
 CROSS JOIN LATERAL (SELECT ('x' || substr(md5(j.job_id::text), 1, 4))::bit(16)::int AS h) hh
 CROSS JOIN LATERAL generate_series(1, j.correction_count) k
  JOIN pool p ON p.language = j.language AND p.i = (h + k * 5) % p.n
 WHERE j.status = 'success'
ON CONFLICT (job_id, token_index) DO NOTHING;
