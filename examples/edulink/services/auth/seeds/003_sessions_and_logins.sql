-- Refresh-token sessions of the users who logged in recently (a second device for some; some
-- logged out), and the login attempts behind them, including the attack on user 17.

INSERT INTO authentication_session (id, user_id, refresh_token_hash, user_agent, ip_address,
                                    created_at, last_seen_at, expires_at, revoked_at, revoke_reason)
SELECT md5('edulink:session:' || u || ':' || d)::uuid,
       md5('edulink:user:' || u)::uuid,
       encode(sha256(convert_to('edulink:refresh:' || u || ':' || d, 'UTF8')), 'hex'),
       CASE d WHEN 1 THEN 'Mozilla/5.0 (Linux; Android 13; SM-A145F) Chrome/119.0 Mobile Safari/537.36'
              ELSE 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/119.0 Safari/537.36' END,
       ('41.90.' || (u % 250) || '.' || (10 + d * 7))::inet,
       started, started + interval '3 hours', started + interval '14 days',
       CASE WHEN d = 2 AND u % 3 = 0 THEN started + interval '5 hours' END,
       CASE WHEN d = 2 AND u % 3 = 0 THEN 'logout' END
  FROM generate_series(1, 61) u
 CROSS JOIN generate_series(1, 2) d
 CROSS JOIN LATERAL (SELECT timestamptz '2025-11-20 08:00+03' + u * interval '37 minutes' - (d - 1) * interval '2 days' AS started) s
 WHERE u % 4 <> 0 AND (d = 1 OR u % 2 = 0) AND u <> 47
ON CONFLICT (id) DO NOTHING;

INSERT INTO authentication_loginattempt (email, user_id, ip_address, succeeded, failure_reason, attempted_at)
SELECT au.email, au.id, ('41.90.' || (n % 250) || '.17')::inet, true, NULL,
       timestamptz '2025-11-20 08:00+03' + n * interval '37 minutes'
  FROM generate_series(1, 61) n
  JOIN authentication_user au ON au.id = md5('edulink:user:' || n)::uuid
 WHERE n % 4 <> 0 AND n <> 47
   AND NOT EXISTS (SELECT 1 FROM authentication_loginattempt la
                    WHERE la.user_id = au.id AND la.succeeded);

INSERT INTO authentication_loginattempt (email, user_id, ip_address, succeeded, failure_reason, attempted_at)
SELECT au.email, au.id, '197.232.61.8'::inet, false,
       CASE WHEN n <= 5 THEN 'bad_password' ELSE 'locked' END,
       timestamptz '2025-11-21 09:40+03' + n * interval '40 seconds'
  FROM generate_series(1, 7) n
  JOIN authentication_user au ON au.id = md5('edulink:user:17')::uuid
 WHERE NOT EXISTS (SELECT 1 FROM authentication_loginattempt la
                    WHERE la.user_id = au.id AND NOT la.succeeded);

-- Someone probing for accounts that do not exist.
INSERT INTO authentication_loginattempt (email, ip_address, succeeded, failure_reason, attempted_at)
SELECT e, '102.68.77.14'::inet, false, 'unknown_email', timestamptz '2025-11-22 02:10+03' + n * interval '3 seconds'
  FROM unnest(ARRAY['admin@edulink.co.ke', 'root@edulink.co.ke', 'test@edulink.co.ke', 'info@edulink.co.ke'])
       WITH ORDINALITY AS x (e, n)
 WHERE NOT EXISTS (SELECT 1 FROM authentication_loginattempt la WHERE la.email = x.e);
