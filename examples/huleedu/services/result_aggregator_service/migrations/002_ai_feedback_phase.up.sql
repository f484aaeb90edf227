-- The AI feedback phase joins the pipeline: a status per essay, defaulting to 'skipped' for
-- essays of batches that never asked for it (backfilled below), 'pending' for new ones.
ALTER TABLE essay_results
    ADD COLUMN ai_feedback_status phase_result_status,
    ADD COLUMN ai_feedback_text_id varchar(255);

UPDATE essay_results er
   SET ai_feedback_status = CASE WHEN 'ai_feedback' = ANY (br.requested_pipelines) THEN 'pending'
                                 ELSE 'skipped' END::phase_result_status
  FROM batch_results br
 WHERE br.batch_id = er.batch_id;

ALTER TABLE essay_results
    ALTER COLUMN ai_feedback_status SET DEFAULT 'pending',
    ALTER COLUMN ai_feedback_status SET NOT NULL;
