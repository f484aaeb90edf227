-- pgfleet:no-transaction
-- Event consumers look batches up by correlation id; built without blocking writes.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_batches_correlation_id ON batches (correlation_id);
