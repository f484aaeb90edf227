-- Progress per batch for the teacher dashboard and the BOS phase coordinator.
CREATE VIEW batch_progress AS
SELECT t.batch_id,
       t.expected_count,
       count(e.essay_id)                                                          AS essays_registered,
       count(*) FILTER (WHERE e.current_status = 'all_processing_completed')      AS essays_completed,
       count(*) FILTER (WHERE e.current_status IN ('content_ingestion_failed', 'spellcheck_failed',
                                                   'nlp_failed', 'cj_assessment_failed',
                                                   'essay_critical_failure'))     AS essays_failed,
       count(*) FILTER (WHERE e.current_status::text LIKE '%in_progress')         AS essays_in_progress,
       max(e.updated_at)                                                          AS last_activity_at
  FROM batch_essay_trackers t
  LEFT JOIN essay_states e ON e.batch_id = t.batch_id
 GROUP BY t.batch_id, t.expected_count;
