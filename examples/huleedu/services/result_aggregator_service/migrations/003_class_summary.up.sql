-- Per class and course: volumes, averages and the grade distribution, for the school
-- leadership dashboard. Refreshed after each completed batch.
CREATE MATERIALIZED VIEW class_result_summary AS
WITH grades AS (
    SELECT br.class_id, br.course_code, er.cj_grade, count(*) AS n
      FROM batch_results br
      JOIN essay_results er ON er.batch_id = br.batch_id
     WHERE br.class_id IS NOT NULL AND er.cj_grade IS NOT NULL
     GROUP BY br.class_id, br.course_code, er.cj_grade
)
SELECT br.class_id,
       br.course_code,
       count(DISTINCT br.batch_id)                   AS batches,
       count(er.essay_id)                            AS essays,
       round(avg(er.spellcheck_correction_count), 2) AS avg_corrections,
       round(avg(er.nlp_lexical_diversity), 3)       AS avg_lexical_diversity,
       coalesce((SELECT jsonb_object_agg(g.cj_grade, g.n ORDER BY g.cj_grade)
                   FROM grades g
                  WHERE g.class_id = br.class_id AND g.course_code = br.course_code),
                '{}')                                AS grade_distribution
  FROM batch_results br
  LEFT JOIN essay_results er ON er.batch_id = br.batch_id
 WHERE br.class_id IS NOT NULL
 GROUP BY br.class_id, br.course_code;

CREATE UNIQUE INDEX uq_class_result_summary ON class_result_summary (class_id, course_code);

-- Only a materialized view's owner may refresh it (PostgreSQL 15 has no MAINTAIN privilege).
-- Not CONCURRENTLY: that needs TEMPORARY on the database, which the service roles do not have;
-- the view is small and the refresh takes milliseconds.
-- the service, running as its runtime role, calls this after each completed batch.
CREATE FUNCTION refresh_class_result_summary() RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
BEGIN
    REFRESH MATERIALIZED VIEW class_result_summary;
END;
$$;
