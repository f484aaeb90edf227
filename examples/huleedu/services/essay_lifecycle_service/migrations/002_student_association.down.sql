DROP INDEX idx_essay_states_student;

ALTER TABLE essay_states
    DROP CONSTRAINT essay_states_association_check,
    DROP COLUMN association_confirmed_at,
    DROP COLUMN association_method,
    DROP COLUMN student_id;

DROP TYPE association_method;
