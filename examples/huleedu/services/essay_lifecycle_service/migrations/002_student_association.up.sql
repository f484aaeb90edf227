-- Essays are matched to the students of the batch's class (NLP suggests, the teacher confirms,
-- or the validation timeout accepts the best suggestion).

CREATE TYPE association_method AS ENUM ('human', 'auto_timeout', 'roster_exact_match');

ALTER TABLE essay_states
    ADD COLUMN student_id uuid,                       -- class_management_service.students.id
    ADD COLUMN association_method association_method,
    ADD COLUMN association_confirmed_at timestamptz,
    ADD CONSTRAINT essay_states_association_check CHECK (
        (student_id IS NULL AND association_method IS NULL AND association_confirmed_at IS NULL)
        OR (student_id IS NOT NULL AND association_method IS NOT NULL AND association_confirmed_at IS NOT NULL)
    );

CREATE INDEX idx_essay_states_student ON essay_states (student_id) WHERE student_id IS NOT NULL;
