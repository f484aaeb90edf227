-- The nightly refresh, so the statistics reflect the seed corrections.
SELECT refresh_correction_frequencies();
