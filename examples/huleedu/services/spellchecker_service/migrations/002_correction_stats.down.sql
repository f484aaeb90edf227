DROP INDEX idx_spellcheck_corrections_job_source;
DROP FUNCTION refresh_correction_frequencies();
DROP MATERIALIZED VIEW correction_frequencies;
