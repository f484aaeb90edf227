-- pgfleet:no-transaction
DROP INDEX CONCURRENTLY IF EXISTS idx_batches_correlation_id;
