-- pgfleet:no-transaction
DROP INDEX CONCURRENTLY IF EXISTS idx_nlp_analyses_features;
