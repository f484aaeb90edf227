DROP TABLE institutions_program;
DROP TABLE institutions_department;
DROP TABLE institutions_institution;
DROP FUNCTION set_updated_at();
