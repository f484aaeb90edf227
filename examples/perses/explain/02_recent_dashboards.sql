-- expect-index: idx_dashboard_created_at
-- Seed 003 "Recent dashboards" (<20ms): the ten newest dashboards of a project.
SELECT id, slug, name, created_by, created_at
  FROM dashboard
 WHERE project = 'fraud-detection-prod'
 ORDER BY created_at DESC
 LIMIT 10;
