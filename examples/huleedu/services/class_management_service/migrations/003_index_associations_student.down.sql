-- pgfleet:no-transaction
DROP INDEX CONCURRENTLY IF EXISTS idx_essay_student_associations_student;
