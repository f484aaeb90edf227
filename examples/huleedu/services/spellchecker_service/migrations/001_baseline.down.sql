DROP TABLE l2_error_dictionary;
DROP TABLE spellcheck_corrections;
DROP TABLE spellcheck_jobs;
DROP FUNCTION set_updated_at();
DROP TYPE correction_source;
DROP TYPE spellcheck_job_status;
