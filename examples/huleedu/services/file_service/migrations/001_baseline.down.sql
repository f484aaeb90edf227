DROP TABLE file_processing_events;
DROP TABLE file_uploads;
DROP FUNCTION set_updated_at();
DROP TYPE file_processing_status;
