-- expect-index: idx_dashboard_name_trgm
-- Seed 003 "Search by name" (<50ms): autocomplete on any part of the name (pg_trgm), best first.
SELECT id, project, slug, name, similarity(name, 'burn rate') AS score
  FROM dashboard
 WHERE name ILIKE '%burn rate%'
   AND state <> 'archived'
 ORDER BY score DESC, name
 LIMIT 20;
