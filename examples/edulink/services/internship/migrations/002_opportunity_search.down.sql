DROP INDEX idx_opportunity_search;
ALTER TABLE internships_opportunity DROP COLUMN search_vector;
