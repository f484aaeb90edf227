-- expect-index: idx_dashboard_project_name
-- Seed 003 "List dashboards by project" (<10ms): a project's page, first 50 by name, archive hidden.
SELECT id, slug, name, state, tags, updated_at, updated_by
  FROM dashboard
 WHERE project = 'fraud-detection-prod'
   AND state <> 'archived'
 ORDER BY name
 LIMIT 50;
