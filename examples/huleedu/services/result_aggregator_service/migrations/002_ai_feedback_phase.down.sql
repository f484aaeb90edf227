ALTER TABLE essay_results
    DROP COLUMN ai_feedback_text_id,
    DROP COLUMN ai_feedback_status;
