-- Fuzzy roster search ("Jon Andersn" finds Jonas Andersson) for the teacher's matching screen.
-- pg_trgm is a trusted extension: the service's owner may create it in its own database.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE INDEX idx_students_full_name_trgm ON students
    USING gin ((lower(first_name || ' ' || last_name)) gin_trgm_ops);
