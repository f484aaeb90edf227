-- Teachers may rush a batch before a grading deadline; the dispatcher takes the highest
-- priority first. Student validation gets an explicit deadline instead of a fixed timeout.

ALTER TABLE batches
    ADD COLUMN priority smallint NOT NULL DEFAULT 5,
    ADD COLUMN student_validation_deadline timestamptz,
    ADD CONSTRAINT batches_priority_check CHECK (priority BETWEEN 1 AND 9);

CREATE INDEX idx_batches_dispatch_queue ON batches (priority DESC, created_at)
    WHERE status = 'ready_for_pipeline_execution';

-- Batches already waiting for student validation get the old implicit deadline (24 hours).
UPDATE batches
   SET student_validation_deadline = created_at + interval '24 hours'
 WHERE status = 'awaiting_student_validation';
