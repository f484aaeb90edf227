DROP INDEX idx_batches_dispatch_queue;

ALTER TABLE batches
    DROP CONSTRAINT batches_priority_check,
    DROP COLUMN student_validation_deadline,
    DROP COLUMN priority;
