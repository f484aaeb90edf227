-- pgfleet:no-transaction
-- "All essays by this student": built concurrently, essay_student_associations is written
-- during every batch's student validation.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_essay_student_associations_student
    ON essay_student_associations (student_id, created_at DESC);
