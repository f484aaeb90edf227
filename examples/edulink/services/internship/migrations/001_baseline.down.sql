DROP TABLE internships_logbookentry;
DROP TABLE internships_placement;
DROP TABLE internships_opportunity;
DROP FUNCTION set_updated_at();
