-- The read model as the pipeline's events left it for the 8 seed batches (see
-- examples/huleedu/README.md). Figures follow the other services' seeds: the same formulas
-- give word counts, corrections and lexical diversity; CJ ranks follow each essay's hidden
-- quality, as the CJ judgements do. Re-runnable: ON CONFLICT DO NOTHING on primary keys.

INSERT INTO batch_results (batch_id, user_id, class_id, course_code, overall_status,
                           requested_pipelines, essay_count, completed_essay_count,
                           failed_essay_count, processing_started_at, processing_completed_at,
                           last_error, created_at, updated_at)
SELECT md5('huleedu:batch:' || b.n)::uuid,
       md5('huleedu:user:' || (((b.n - 1) % 6) / 2 + 1))::uuid,
       md5('huleedu:class:' || ((b.n - 1) % 6 + 1))::uuid,
       b.course_code,
       b.status::batch_result_status,
       b.pipelines::text[],
       20, b.completed, b.failed,
       CASE WHEN b.status <> 'registered' THEN created + interval '10 minutes' END,
       CASE WHEN b.status LIKE 'completed%' THEN created + interval '2 hours' END,
       b.error,
       created, created + interval '2 hours'
  FROM (VALUES
        (1, 'ENG5', 'completed_successfully',  '{spellcheck,nlp,cj_assessment}', 20, 0, NULL),
        (2, 'ENG5', 'completed_successfully',  '{spellcheck,nlp,cj_assessment}', 20, 0, NULL),
        (3, 'ENG6', 'completed_with_failures', '{spellcheck,nlp}',               18, 2, 'spellcheck failed for 2 essays: EMPTY_CONTENT'),
        (4, 'ENG6', 'processing',              '{spellcheck,nlp,cj_assessment}',  0, 0, NULL),
        (5, 'SV1',  'processing',              '{spellcheck,cj_assessment}',      0, 0, NULL),
        (6, 'SV1',  'registered',              '{spellcheck,nlp}',                0, 0, NULL),
        (7, 'ENG5', 'registered',              '{spellcheck,nlp,cj_assessment}',  0, 0, NULL),
        (8, 'ENG5', 'registered',              '{}',                              0, 0, NULL)
       ) AS b (n, course_code, status, pipelines, completed, failed, error)
 CROSS JOIN LATERAL (SELECT timestamptz '2025-09-01 07:30+00' + (b.n - 1) * interval '4 days' AS created) t
ON CONFLICT (batch_id) DO NOTHING;

-- Essays of batches 1–7 (batch 8 is still uploading).
WITH essays AS (
    SELECT b, e,
           md5('huleedu:essay:' || b || ':' || e)::uuid AS essay_id,
           250 + ('x' || substr(md5('huleedu:words:' || b || ':' || e), 1, 4))::bit(16)::int % 450 AS words,
           round(45 + ('x' || substr(md5('huleedu:mtld:' || b || ':' || e), 1, 4))::bit(16)::int % 600 / 10.0, 3) AS mtld,
           (('x' || substr(md5('huleedu:quality:' || md5('huleedu:essay:' || b || ':' || e)::uuid), 1, 6))::bit(24)::int % 1000) / 100.0 AS quality,
           timestamptz '2025-09-01 07:30+00' + (b - 1) * interval '4 days' + e * interval '20 seconds' AS created
      FROM generate_series(1, 7) b, generate_series(1, 20) e
), phases AS (
    SELECT es.*,
           CASE WHEN b = 3 AND e IN (7, 15) THEN 'failed'
                WHEN b <= 4 OR (b = 5 AND e <= 8) THEN 'success'
                ELSE 'pending' END AS sc,
           CASE WHEN b = 3 AND e IN (7, 15) THEN 'skipped'
                WHEN b <= 3 OR (b = 4 AND e <= 12) THEN 'success'
                WHEN b = 5 THEN 'skipped'
                ELSE 'pending' END AS nlp,
           CASE WHEN b IN (1, 2) THEN 'success'
                WHEN b IN (3, 6) THEN 'skipped'
                ELSE 'pending' END AS cj,
           row_number() OVER (PARTITION BY b ORDER BY quality DESC, e) AS rank
      FROM essays es
)
INSERT INTO essay_results (essay_id, batch_id, student_id, filename, spellcheck_status,
                           spellcheck_correction_count, spellcheck_corrected_text_id, nlp_status,
                           nlp_word_count, nlp_lexical_diversity, cj_status, cj_rank, cj_score,
                           cj_grade, ai_feedback_status, last_error, created_at, updated_at)
SELECT p.essay_id,
       md5('huleedu:batch:' || p.b)::uuid,
       CASE WHEN p.b <> 6
            THEN md5('huleedu:student:' || (((p.b - 1) % 6) * 24 + p.e + CASE WHEN p.b > 6 THEN 4 ELSE 0 END))::uuid
       END,
       format('essay_%s_%s.docx', p.b, lpad(p.e::text, 2, '0')),
       p.sc::phase_result_status,
       CASE WHEN p.sc = 'success' THEN 2 + p.words % 11 END,
       CASE WHEN p.sc = 'success' THEN 'content-' || md5('huleedu:corrected:' || p.b || ':' || p.e) END,
       p.nlp::phase_result_status,
       CASE WHEN p.nlp = 'success' THEN p.words END,
       CASE WHEN p.nlp = 'success' THEN p.mtld END,
       p.cj::phase_result_status,
       CASE WHEN p.cj = 'success' THEN p.rank END,
       CASE WHEN p.cj = 'success' THEN round(((p.quality - 5) / 2)::numeric, 4) END,
       CASE WHEN p.cj = 'success' THEN
            CASE WHEN p.rank <= 2 THEN 'A' WHEN p.rank <= 5 THEN 'B' WHEN p.rank <= 10 THEN 'C'
                 WHEN p.rank <= 15 THEN 'D' WHEN p.rank <= 18 THEN 'E' ELSE 'F' END
       END,
       'skipped',
       CASE WHEN p.sc = 'failed' THEN 'EMPTY_CONTENT: extracted text has no tokens' END,
       p.created, p.created + interval '1 hour'
  FROM phases p
ON CONFLICT (essay_id) DO NOTHING;

-- The phase outcome events that produced the rows above.
INSERT INTO processed_events (event_id, event_type, batch_id, processed_at)
SELECT md5('huleedu:ras-event:' || b || ':' || phase)::uuid,
       'huleedu.els.batch.phase.outcome.v1',
       md5('huleedu:batch:' || b)::uuid,
       timestamptz '2025-09-01 07:30+00' + (b - 1) * interval '4 days' + seq * interval '20 minutes'
  FROM (VALUES (1, 'spellcheck', 1), (1, 'nlp', 2), (1, 'cj_assessment', 3),
               (2, 'spellcheck', 1), (2, 'nlp', 2), (2, 'cj_assessment', 3),
               (3, 'spellcheck', 1), (3, 'nlp', 2), (4, 'spellcheck', 1)) AS o (b, phase, seq)
ON CONFLICT (event_id) DO NOTHING;
