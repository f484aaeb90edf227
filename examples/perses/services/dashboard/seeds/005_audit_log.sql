-- 150,000 audit events from 1 November 2025 to 30 January 2026 (one every 52 seconds, so about
-- 50,000 a month and 100 per user and month): views, edits, exports, share links, preferences.
-- Mostly the dashboard's creator, otherwise any user; a few denied or failed.
--
-- Seeds run as the owner role, which may INSERT like the service (the trigger refuses UPDATE
-- and DELETE). Re-runnable: fixed ids, ON CONFLICT DO NOTHING (the key includes created_at,
-- which is fixed too, so a re-run meets the same partition).

WITH
dashboards AS (
    SELECT row_number() OVER (ORDER BY id) AS m, id, project, slug, version, created_by
      FROM dashboard
),
users AS (
    SELECT array_agg(user_id ORDER BY user_id) AS names FROM user_preferences
),
events AS (
    SELECT i,
           timestamptz '2025-11-01 00:00+00' + i * interval '52 seconds' AS created_at,
           (ARRAY['dashboard.view', 'dashboard.view', 'dashboard.view', 'dashboard.view',
                  'dashboard.view', 'dashboard.view', 'dashboard.view', 'dashboard.view',
                  'dashboard.view', 'dashboard.view', 'dashboard.view', 'dashboard.view',
                  'dashboard.update', 'dashboard.update', 'dashboard.update', 'dashboard.create',
                  'share_token.create', 'share_token.use', 'dashboard.export',
                  'preferences.update'])[1 + i % 20] AS action,
           1 + (i * 7919) % (SELECT count(*) FROM dashboard) AS m
      FROM generate_series(1, 150000) AS i
)
INSERT INTO audit_log (id, created_at, user_id, action, resource_type, resource_id, project,
                       result, client_ip, user_agent, request_id, details)
SELECT md5('perses:audit:' || e.i)::uuid,
       e.created_at,
       CASE WHEN e.i % 5 < 3 OR e.action = 'preferences.update' THEN d.created_by
            ELSE u.names[1 + (e.i * 31) % cardinality(u.names)] END,
       e.action,
       CASE split_part(e.action, '.', 1)
           WHEN 'preferences' THEN 'user_preferences'
           ELSE split_part(e.action, '.', 1) END,
       CASE WHEN e.action = 'preferences.update' THEN d.created_by
            WHEN e.action LIKE 'share_token.%' THEN md5('perses:share-token-id:' || (e.i % 12000 + 1))::text
            ELSE d.id::text END,
       CASE WHEN e.action <> 'preferences.update' THEN d.project END,
       CASE WHEN e.i % 97 = 0 THEN 'denied'
            WHEN e.i % 211 = 0 THEN 'failure'
            ELSE 'success' END::audit_result,
       format('10.%s.%s.%s', 20 + e.i % 8, (e.i / 8) % 250, 10 + e.i % 200)::inet,
       (ARRAY['Mozilla/5.0 (X11; Linux x86_64) Firefox/132.0',
              'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) Chrome/131.0 Safari/537.36',
              'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Edg/131.0',
              'perses-cli/0.49.0'])[1 + e.i % 4],
       md5('perses:request:' || e.i)::uuid,
       CASE WHEN e.action LIKE 'dashboard.%'
            THEN jsonb_build_object('dashboard', d.slug, 'version', d.version)
            WHEN e.action = 'share_token.create'
            THEN jsonb_build_object('dashboard', d.slug, 'ttl_hours', 24 * (1 + e.i % 14))
            ELSE '{}'::jsonb END
  FROM events e
  JOIN dashboards d ON d.m = e.m
 CROSS JOIN users u
ON CONFLICT DO NOTHING;

-- Fresh statistics for every table (the partitioned parent too), so plans are the ones the
-- explain/ files expect.
ANALYZE;
