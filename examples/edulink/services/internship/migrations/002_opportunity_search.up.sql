-- Full-text search over opportunities (title weighs more than the description).
ALTER TABLE internships_opportunity
    ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', coalesce(title, '')), 'A')
        || setweight(to_tsvector('english', coalesce(employer_name, '')), 'B')
        || setweight(to_tsvector('english', coalesce(description, '')), 'C')
    ) STORED;

CREATE INDEX idx_opportunity_search ON internships_opportunity USING gin (search_vector);
