DROP INDEX uq_institution_slug;

ALTER TABLE institutions_institution
    DROP CONSTRAINT institutions_institution_slug_check,
    DROP COLUMN slug;
