-- The audit trail the other services' seeds would have left: registrations and logins (auth),
-- profile completions (user), application transitions (application), placements (internship)
-- and the lock-out of user 17. db_role is the login of the service that wrote each event, as
-- record_event() records it (session_user). The log is append-only, so the seeds only insert:
-- event_id is derived from what the event is about, ON CONFLICT DO NOTHING makes it re-runnable.

INSERT INTO audit_log (event_id, occurred_at, service, action, entity, entity_id, actor_user_id, db_role, detail)
SELECT md5('edulink:audit:registered:' || u)::uuid,
       timestamptz '2025-08-01 09:00+03' + u * interval '9 hours',
       'auth', 'user.registered', 'authentication_user', md5('edulink:user:' || u)::uuid::text,
       md5('edulink:user:' || u)::uuid, 'auth_app',
       jsonb_build_object('role', CASE WHEN u <= 48 THEN 'student' WHEN u <= 54 THEN 'employer'
                                       WHEN u <= 58 THEN 'institution_admin' WHEN u <= 60 THEN 'supervisor'
                                       ELSE 'system_admin' END)
  FROM generate_series(1, 61) u
UNION ALL
SELECT md5('edulink:audit:profile:' || u)::uuid,
       timestamptz '2025-08-02 09:30+03' + u * interval '9 hours',
       'user', 'profile.completed', 'profiles_userprofile', md5('edulink:profile:' || u)::uuid::text,
       md5('edulink:user:' || u)::uuid, 'user_app', '{}'::jsonb
  FROM generate_series(1, 61) u
 WHERE u % 5 <> 0
UNION ALL
SELECT md5('edulink:audit:login:' || u)::uuid,
       timestamptz '2025-11-20 08:00+03' + u * interval '37 minutes',
       'auth', 'session.created', 'authentication_session', md5('edulink:session:' || u || ':1')::uuid::text,
       md5('edulink:user:' || u)::uuid, 'auth_app',
       jsonb_build_object('ip', '41.90.' || (u % 250) || '.17', 'device', 'mobile')
  FROM generate_series(1, 61) u
 WHERE u % 4 <> 0 AND u <> 47
UNION ALL
SELECT md5('edulink:audit:locked:17')::uuid, timestamptz '2025-11-21 09:43:20+03',
       'auth', 'user.locked', 'authentication_user', md5('edulink:user:17')::uuid::text,
       NULL, 'auth_app', '{"failed_attempts": 5, "ip": "197.232.61.8", "locked_minutes": 30}'::jsonb
ON CONFLICT (event_id) DO NOTHING;

-- Applications: where each one stands (the application seeds' formula), and who moved it there.
INSERT INTO audit_log (event_id, occurred_at, service, action, entity, entity_id, actor_user_id, db_role, detail)
SELECT md5('edulink:audit:application:' || u || ':' || k)::uuid,
       created + steps * interval '2 days',
       'application',
       CASE WHEN h = 0 THEN 'application.created' ELSE 'application.status_changed' END,
       'applications_application', md5('edulink:application:' || u || ':' || k)::uuid::text,
       md5('edulink:user:' || CASE WHEN h IN (0, 1, 2, 8, 9, 11) THEN u
                                   WHEN o = 13 THEN 55 ELSE 48 + (o - 1) % 6 + 1 END)::uuid,
       'application_app',
       jsonb_build_object('to_status', (ARRAY['draft', 'submitted', 'submitted', 'under_review', 'under_review',
                                              'shortlisted', 'interview_scheduled', 'offered', 'accepted',
                                              'accepted', 'rejected', 'withdrawn'])[h + 1],
                          'opportunity_id', md5('edulink:opportunity:' || o)::uuid)
  FROM generate_series(1, 48) u
 CROSS JOIN generate_series(1, 2) k
 CROSS JOIN LATERAL (SELECT CASE k WHEN 1 THEN (3 * u) % 18 + 1 ELSE (7 * u + 5) % 18 + 1 END AS o,
                            (7 * u + 3 * k) % 12 AS h) x
 CROSS JOIN LATERAL (SELECT (ARRAY[0, 1, 1, 2, 2, 3, 4, 5, 6, 6, 3, 2])[h + 1] AS steps,
                            CASE WHEN o = 15 THEN timestamptz '2025-05-20 10:00+03'
                                 WHEN o BETWEEN 16 AND 18 THEN timestamptz '2025-08-10 10:00+03'
                                 ELSE timestamptz '2025-10-25 10:00+03' END
                            + (u * 5 + k) * interval '1 hour' AS created) s
ON CONFLICT (event_id) DO NOTHING;

-- Placements created for the accepted applications.
INSERT INTO audit_log (event_id, occurred_at, service, action, entity, entity_id, actor_user_id, db_role, detail)
SELECT md5('edulink:audit:placement:' || u || ':' || k)::uuid,
       timestamptz '2025-06-20 12:00+03' + (u * 3 + k) * interval '1 day',
       'internship', 'placement.created', 'internships_placement',
       md5('edulink:placement:' || u || ':' || k)::uuid::text,
       md5('edulink:user:' || CASE WHEN o % 2 = 0 THEN 60 ELSE 59 END)::uuid, 'internship_app',
       jsonb_build_object('application_id', md5('edulink:application:' || u || ':' || k)::uuid)
  FROM generate_series(1, 48) u
 CROSS JOIN generate_series(1, 2) k
 CROSS JOIN LATERAL (SELECT CASE k WHEN 1 THEN (3 * u) % 18 + 1 ELSE (7 * u + 5) % 18 + 1 END AS o) x
 WHERE (7 * u + 3 * k) % 12 IN (8, 9)
ON CONFLICT (event_id) DO NOTHING;
