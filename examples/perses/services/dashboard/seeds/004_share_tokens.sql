-- 12,600 share links, one for every second active dashboard, created over the 20 days before the
-- first seeding (so a fresh development database always has live links): TTLs of 1, 7, 14 and 30
-- days (some have expired), every ninth revoked, three in four restricted to client networks.
--
-- Development tokens are md5('perses:share-token:<n>') so that examples can name one (the service
-- itself takes gen_random_uuid()). For instance n = 6, a live 30-day link from 10.20.0.0/16 or
-- 192.168.10.0/24: 73c212ac-a84f-934e-7826-de53a979d7ed (explain/04_validate_share_token.sql).
-- Re-runnable: ON CONFLICT DO NOTHING on the fixed ids (a re-run keeps the first run's times).

INSERT INTO share_token (id, token, dashboard_id, permission, allowed_cidrs, max_uses, use_count,
                         description, created_by, created_at, expires_at, last_used_at,
                         revoked_at, revoked_by)
SELECT md5('perses:share-token-id:' || s.n)::uuid,
       md5('perses:share-token:' || s.n)::uuid,
       s.dashboard_id,
       CASE WHEN s.n % 13 = 0 THEN 'edit' ELSE 'view' END,
       (ARRAY['{}', '{10.0.0.0/8}', '{10.20.0.0/16,192.168.10.0/24}', '{172.16.0.0/12}'])[1 + s.n % 4]::cidr[],
       CASE WHEN s.n % 5 = 0 THEN 50 END,
       s.n % 41,
       (ARRAY['Shared with the on-call rotation', 'Incident review', 'Weekly business review',
              'For the model risk committee', 'Customer demo'])[1 + s.n % 5],
       s.created_by,
       s.created_at,
       s.created_at + (ARRAY[1, 1, 7, 7, 14, 14, 30])[1 + s.n % 7] * interval '1 day',
       CASE WHEN s.n % 41 > 0 THEN s.created_at + interval '10 minutes' END,
       CASE WHEN s.n % 9 = 0 THEN s.created_at + interval '30 minutes' END,
       CASE WHEN s.n % 9 = 0 THEN s.created_by END
  FROM (SELECT a.m / 2 AS n,
               a.dashboard_id,
               a.created_by,
               date_trunc('minute', now()) - (1 + (a.m / 2 * 37) % 480) * interval '1 hour' AS created_at
          FROM (SELECT row_number() OVER (ORDER BY d.id) AS m, d.id AS dashboard_id, d.created_by
                  FROM dashboard d
                 WHERE d.state = 'active') AS a
         WHERE a.m % 2 = 0) AS s
ON CONFLICT DO NOTHING;
