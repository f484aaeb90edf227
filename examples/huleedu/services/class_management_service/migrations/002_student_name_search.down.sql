DROP INDEX idx_students_full_name_trgm;
DROP EXTENSION pg_trgm;
