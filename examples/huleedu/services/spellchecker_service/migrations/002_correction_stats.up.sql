-- Most frequent corrections per language, for curating the L2 dictionary: a materialized
-- view refreshed nightly.
CREATE MATERIALIZED VIEW correction_frequencies AS
SELECT j.language,
       lower(c.original_token)  AS original_token,
       lower(c.corrected_token) AS corrected_token,
       c.source,
       count(*)                 AS occurrences,
       count(DISTINCT j.essay_id) AS essays
  FROM spellcheck_corrections c
  JOIN spellcheck_jobs j ON j.job_id = c.job_id
 GROUP BY j.language, lower(c.original_token), lower(c.corrected_token), c.source;

CREATE UNIQUE INDEX uq_correction_frequencies
    ON correction_frequencies (language, original_token, corrected_token, source);

-- Only a materialized view's owner may refresh it (PostgreSQL 15 has no MAINTAIN privilege).
-- Not CONCURRENTLY: that needs TEMPORARY on the database, which the service roles do not have;
-- the view is small and the refresh takes milliseconds.
-- the nightly job, running as the service's runtime role, calls this instead.
CREATE FUNCTION refresh_correction_frequencies() RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
BEGIN
    REFRESH MATERIALIZED VIEW correction_frequencies;
END;
$$;

-- Corrections by essay position are read per job; source is now filtered on often enough to
-- deserve a column in the index.
CREATE INDEX idx_spellcheck_corrections_job_source ON spellcheck_corrections (job_id, source);
