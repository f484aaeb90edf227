DROP TABLE processed_events;
DROP TABLE essay_results;
DROP TABLE batch_results;
DROP FUNCTION set_updated_at();
DROP TYPE phase_result_status;
DROP TYPE batch_result_status;
