DROP TABLE event_outbox;
DROP TABLE batch_pipeline_phases;
DROP TABLE batches;
DROP FUNCTION set_updated_at();
DROP TYPE phase_status;
DROP TYPE pipeline_phase;
DROP TYPE batch_status;
