-- One row per user who created a dashboard (500): home is their latest active dashboard,
-- favourites their five latest. Re-runnable: ON CONFLICT (user_id) DO NOTHING.

INSERT INTO user_preferences (user_id, theme, default_project, home_dashboard_id,
                              favorite_dashboard_ids, default_time_range, refresh_interval_seconds,
                              timezone, settings, created_at, updated_at)
SELECT home.created_by,
       (ARRAY['system', 'dark', 'light', 'dark'])[1 + abs(hashtext(home.created_by)) % 4],
       home.project,
       home.id,
       ARRAY(SELECT d.id
               FROM dashboard d
              WHERE d.created_by = home.created_by AND d.state = 'active'
              ORDER BY d.created_at DESC, d.id
              LIMIT 5),
       (ARRAY['1h', '6h', '24h', '7d', '1h'])[1 + abs(hashtext(home.created_by)) % 5],
       (ARRAY[30, 60, 0, 15, 300])[1 + abs(hashtext(home.created_by || ':refresh')) % 5],
       (ARRAY['browser', 'UTC', 'Europe/Stockholm', 'America/New_York', 'Asia/Tokyo'])[1 + abs(hashtext(home.created_by || ':tz')) % 5],
       jsonb_build_object('compactPanels', abs(hashtext(home.created_by)) % 2 = 0,
                          'showArchived', false,
                          'lastSeenReleaseNotes', '2.14'),
       home.created_at,
       home.created_at
  FROM (SELECT DISTINCT ON (created_by) created_by, project, id, created_at
          FROM dashboard
         WHERE state = 'active'
         ORDER BY created_by, created_at DESC, id) AS home
ON CONFLICT (user_id) DO NOTHING;
