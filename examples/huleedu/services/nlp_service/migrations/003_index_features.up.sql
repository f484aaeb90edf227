-- pgfleet:no-transaction
-- Researchers filter analyses by feature values (features @> '{"passive_voice_ratio": ...}');
-- a GIN index, built without blocking the analysis writers.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_nlp_analyses_features
    ON nlp_analyses USING gin (features jsonb_path_ops);
