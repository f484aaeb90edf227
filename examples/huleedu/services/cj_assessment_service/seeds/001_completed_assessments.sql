-- Comparative judgement of the two finished batches (1 and 2): 20 essays each, 80 pairs in two
-- iterations (every essay meets 8 others), an LLM judgement per pair (plus a few teacher
-- calibration judgements and failed attempts), then the Bradley–Terry ranking.
-- Each essay has a hidden "quality" derived from its id; the judge prefers the better essay
-- except for close calls. Re-runnable: ON CONFLICT DO NOTHING on natural keys.

INSERT INTO cj_batch_uploads (bos_batch_id, event_correlation_id, language, course_code,
                              essay_instructions, expected_essay_count, state, comparison_budget,
                              comparisons_submitted, comparisons_completed, current_iteration,
                              created_at, updated_at, completed_at)
SELECT md5('huleedu:batch:' || b)::uuid,
       md5('huleedu:cj-request:' || b)::uuid,
       'en', 'ENG5',
       CASE b WHEN 1 THEN 'Argumentative essay: should homework be abolished?'
              ELSE 'Describe a place that matters to you.' END,
       20, 'COMPLETED', 160, 80, 80, 2,
       start, start + interval '50 minutes', start + interval '50 minutes'
  FROM generate_series(1, 2) b
 CROSS JOIN LATERAL (SELECT timestamptz '2025-09-01 08:00+00' + (b - 1) * interval '4 days' AS start) t
ON CONFLICT (bos_batch_id, event_correlation_id) DO NOTHING;

INSERT INTO cj_processed_essays (cj_batch_id, els_essay_id, text_storage_id, created_at, updated_at)
SELECT u.id,
       md5('huleedu:essay:' || b || ':' || e)::uuid,
       'content-' || md5('huleedu:text:' || b || ':' || e),
       u.created_at, u.created_at
  FROM generate_series(1, 2) b
  JOIN cj_batch_uploads u ON u.bos_batch_id = md5('huleedu:batch:' || b)::uuid
 CROSS JOIN generate_series(1, 20) e
ON CONFLICT (cj_batch_id, els_essay_id) DO NOTHING;

-- Essay e meets e+1 … e+4 (mod 20): 80 distinct pairs per batch.
INSERT INTO cj_comparison_pairs (cj_batch_id, essay_a_id, essay_b_id, iteration, a_presented_first,
                                 status, created_at, submitted_at)
SELECT u.id,
       least(x.id, y.id),
       greatest(x.id, y.id),
       CASE WHEN k <= 2 THEN 1 ELSE 2 END,
       (e + k) % 2 = 0,
       'completed',
       u.created_at + CASE WHEN k <= 2 THEN interval '2 minutes' ELSE interval '25 minutes' END,
       u.created_at + CASE WHEN k <= 2 THEN interval '3 minutes' ELSE interval '26 minutes' END
  FROM generate_series(1, 2) b
  JOIN cj_batch_uploads u ON u.bos_batch_id = md5('huleedu:batch:' || b)::uuid
 CROSS JOIN generate_series(1, 20) e
 CROSS JOIN generate_series(1, 4) k
  JOIN cj_processed_essays x ON x.cj_batch_id = u.id AND x.els_essay_id = md5('huleedu:essay:' || b || ':' || e)::uuid
  JOIN cj_processed_essays y ON y.cj_batch_id = u.id
                            AND y.els_essay_id = md5('huleedu:essay:' || b || ':' || ((e - 1 + k) % 20 + 1))::uuid
ON CONFLICT (cj_batch_id, essay_a_id, essay_b_id, iteration) DO NOTHING;

-- One LLM judgement per pair.
WITH quality AS (
    SELECT pe.id,
           (('x' || substr(md5('huleedu:quality:' || pe.els_essay_id), 1, 6))::bit(24)::int % 1000) / 100.0 AS q
      FROM cj_processed_essays pe
), judged AS (
    SELECT p.id AS pair_id, p.essay_a_id, p.essay_b_id, p.submitted_at,
           qa.q - qb.q AS dq,
           (('x' || substr(md5('huleedu:noise:' || p.id || ':' || p.cj_batch_id), 1, 2))::bit(8)::int) AS noise
      FROM cj_comparison_pairs p
      JOIN quality qa ON qa.id = p.essay_a_id
      JOIN quality qb ON qb.id = p.essay_b_id
)
INSERT INTO cj_comparisons (pair_id, judge_kind, judge_ref, request_correlation_id, winner_essay_id,
                            confidence, justification, prompt_tokens, completion_tokens, response_ms,
                            created_at)
SELECT j.pair_id, 'llm', 'claude-3-5-haiku-20241022',
       md5('huleedu:cj-comparison:llm:' || j.pair_id || ':' || j.essay_a_id)::uuid,
       CASE WHEN (j.dq >= 0) <> (abs(j.dq) < 1.5 AND j.noise < 64) THEN j.essay_a_id ELSE j.essay_b_id END,
       round(least(5.0, 1.0 + abs(j.dq) / 2), 1),
       CASE WHEN abs(j.dq) < 1.5
            THEN 'Both essays address the prompt; the chosen one has a slightly clearer line of argument.'
            ELSE 'The chosen essay is better organised, supports its claims with examples and has fewer language errors.'
       END,
       1800 + j.noise * 4, 120 + j.noise, 2400 + j.noise * 31,
       j.submitted_at + interval '40 seconds'
  FROM judged j
ON CONFLICT (request_correlation_id) DO NOTHING;

-- Batch 2: two requests hit the provider's rate limit before the retry above succeeded.
INSERT INTO cj_comparisons (pair_id, judge_kind, judge_ref, request_correlation_id, error_code,
                            response_ms, created_at)
SELECT p.id, 'llm', 'claude-3-5-haiku-20241022',
       md5('huleedu:cj-comparison:failed:' || p.id)::uuid,
       'PROVIDER_RATE_LIMITED', 180, p.submitted_at + interval '5 seconds'
  FROM cj_comparison_pairs p
  JOIN cj_batch_uploads u ON u.id = p.cj_batch_id AND u.bos_batch_id = md5('huleedu:batch:2')::uuid
  JOIN cj_processed_essays x ON x.id = p.essay_a_id
 WHERE p.iteration = 2
   AND x.els_essay_id IN (md5('huleedu:essay:2:3')::uuid, md5('huleedu:essay:2:11')::uuid)
ON CONFLICT (request_correlation_id) DO NOTHING;

-- The teacher of batch 1 judged five pairs herself to calibrate the LLM.
INSERT INTO cj_comparisons (pair_id, judge_kind, judge_ref, request_correlation_id, winner_essay_id,
                            confidence, justification, created_at)
SELECT c.pair_id, 'teacher', md5('huleedu:user:1')::uuid::text,
       md5('huleedu:cj-comparison:teacher:' || c.pair_id)::uuid,
       c.winner_essay_id, 4.0, 'Agree with the model: stronger thesis and paragraphing.',
       c.created_at + interval '1 day'
  FROM cj_comparisons c
  JOIN cj_comparison_pairs p ON p.id = c.pair_id
  JOIN cj_batch_uploads u ON u.id = p.cj_batch_id AND u.bos_batch_id = md5('huleedu:batch:1')::uuid
 WHERE c.judge_kind = 'llm' AND c.winner_essay_id IS NOT NULL
 ORDER BY c.pair_id
 LIMIT 5
ON CONFLICT (request_correlation_id) DO NOTHING;
