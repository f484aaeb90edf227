DROP TABLE essay_student_associations;
DROP TABLE class_students;
DROP TABLE students;
DROP TABLE classes;
DROP FUNCTION set_updated_at();
DROP TYPE enrolment_status;
DROP TYPE course_code;
