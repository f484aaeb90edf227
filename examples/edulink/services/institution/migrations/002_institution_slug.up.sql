-- Public institution pages get readable URLs (/institutions/strathmore-university): a slug,
-- backfilled from the name, then required and unique.
ALTER TABLE institutions_institution ADD COLUMN slug varchar(80);

UPDATE institutions_institution
   SET slug = left(trim(BOTH '-' FROM regexp_replace(lower(name), '[^a-z0-9]+', '-', 'g')), 80);

ALTER TABLE institutions_institution
    ALTER COLUMN slug SET NOT NULL,
    ADD CONSTRAINT institutions_institution_slug_check CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$');

CREATE UNIQUE INDEX uq_institution_slug ON institutions_institution (slug);
