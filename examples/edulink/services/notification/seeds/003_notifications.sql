-- What the platform sent for the other services' seeds: a welcome per account, a status
-- update per application that left draft (and the employer's notice of it), confirmations of
-- the 16 placements, the lock-out notice of user 17 and pending logbook reminders. Application
-- statuses follow the application seeds' formula. Ids are derived from what each one is about.

-- Welcome e-mails (in the user's language).
INSERT INTO notifications_notification (id, user_id, template_id, channel, category, title, body, data,
                                        status, priority, sent_at, read_at, created_at)
SELECT md5('edulink:notification:welcome:' || u)::uuid,
       md5('edulink:user:' || u)::uuid,
       t.id, 'email', 'account', t.subject_template, t.body_template,
       jsonb_build_object('user_number', u),
       'delivered', 3, joined + interval '1 minute', NULL, joined
  FROM generate_series(1, 61) u
 CROSS JOIN LATERAL (SELECT timestamptz '2025-08-01 09:00+03' + u * interval '9 hours' AS joined) j
  JOIN notifications_notificationtemplate t
    ON t.code = 'welcome' AND t.channel = 'email' AND t.locale = CASE WHEN u % 6 = 0 THEN 'sw' ELSE 'en' END
ON CONFLICT (id) DO NOTHING;

WITH apps AS (
    SELECT u, k, o, h,
           CASE WHEN o = 13 THEN 55 ELSE 48 + (o - 1) % 6 + 1 END AS employer,
           (ARRAY['submitted', 'submitted', 'under review', 'under review', 'shortlisted',
                  'interview scheduled', 'offered', 'accepted', 'accepted', 'rejected', 'withdrawn'])[h] AS label,
           CASE WHEN o = 15 THEN timestamptz '2025-05-20 10:00+03'
                WHEN o BETWEEN 16 AND 18 THEN timestamptz '2025-08-10 10:00+03'
                ELSE timestamptz '2025-10-25 10:00+03' END + (u * 5 + k) * interval '1 hour' AS created
      FROM generate_series(1, 48) u
     CROSS JOIN generate_series(1, 2) k
     CROSS JOIN LATERAL (SELECT CASE k WHEN 1 THEN (3 * u) % 18 + 1 ELSE (7 * u + 5) % 18 + 1 END AS o,
                                (7 * u + 3 * k) % 12 AS h) x
     WHERE (7 * u + 3 * k) % 12 <> 0                 -- drafts notify nobody
)
INSERT INTO notifications_notification (id, user_id, template_id, channel, category, title, body, data,
                                        status, priority, sent_at, read_at, created_at)
-- The student: where the application stands now.
SELECT md5('edulink:notification:status:' || a.u || ':' || a.k)::uuid,
       md5('edulink:user:' || a.u)::uuid,
       t.id, 'in_app', 'application',
       'Application ' || a.label,
       'Your application is now ' || a.label || '.',
       jsonb_build_object('application_id', md5('edulink:application:' || a.u || ':' || a.k)::uuid,
                          'opportunity_id', md5('edulink:opportunity:' || a.o)::uuid),
       CASE WHEN a.u % 3 = 0 THEN 'read' ELSE 'sent' END,
       CASE WHEN a.h IN (7, 8, 9) THEN 1 ELSE 3 END,
       a.created + interval '2 days',
       CASE WHEN a.u % 3 = 0 THEN a.created + interval '3 days' END,
       a.created + interval '2 days'
  FROM apps a
  JOIN notifications_notificationtemplate t
    ON t.code = 'application_status_changed' AND t.channel = 'in_app' AND t.locale = 'en'
UNION ALL
-- The employer: a new application arrived.
SELECT md5('edulink:notification:received:' || a.u || ':' || a.k)::uuid,
       md5('edulink:user:' || a.employer)::uuid,
       t.id, 'in_app', 'application',
       'New application received',
       'A student applied for one of your opportunities.',
       jsonb_build_object('application_id', md5('edulink:application:' || a.u || ':' || a.k)::uuid),
       CASE WHEN a.h >= 3 THEN 'read' ELSE 'sent' END,
       3,
       a.created + interval '2 days',
       CASE WHEN a.h >= 3 THEN a.created + interval '2 days 4 hours' END,
       a.created + interval '2 days'
  FROM apps a
  JOIN notifications_notificationtemplate t
    ON t.code = 'new_application_received' AND t.channel = 'in_app' AND t.locale = 'en'
UNION ALL
-- Accepted offers: the placement is confirmed by e-mail and SMS (a few SMS failed).
SELECT md5('edulink:notification:placement:' || a.u || ':' || a.k || ':' || t.channel)::uuid,
       md5('edulink:user:' || a.u)::uuid,
       t.id, t.channel, 'internship',
       coalesce(t.subject_template, 'Attachment confirmed'), t.body_template,
       jsonb_build_object('placement_id', md5('edulink:placement:' || a.u || ':' || a.k)::uuid),
       CASE WHEN t.channel = 'sms' AND a.u % 5 = 0 THEN 'failed' ELSE 'delivered' END,
       1,
       CASE WHEN NOT (t.channel = 'sms' AND a.u % 5 = 0) THEN a.created + interval '13 days' END,
       NULL,
       a.created + interval '12 days'
  FROM apps a
  JOIN notifications_notificationtemplate t
    ON t.code = 'placement_confirmed' AND t.locale = 'en'
 WHERE a.h IN (8, 9)
ON CONFLICT (id) DO NOTHING;

-- User 17's account was locked after the brute-force attempt.
INSERT INTO notifications_notification (id, user_id, template_id, channel, category, title, body, data,
                                        status, priority, sent_at, created_at)
SELECT md5('edulink:notification:locked:17')::uuid, md5('edulink:user:17')::uuid, t.id, 'email', 'account',
       t.subject_template, replace(t.body_template, '{{locked_until}}', '10:15'),
       '{"failed_attempts": 5}', 'delivered', 1,
       timestamptz '2025-11-21 09:44+03', timestamptz '2025-11-21 09:44+03'
  FROM notifications_notificationtemplate t
 WHERE t.code = 'account_locked' AND t.channel = 'email'
ON CONFLICT (id) DO NOTHING;

-- Logbook reminders queued for Monday afternoon for the students on running placements.
INSERT INTO notifications_notification (id, user_id, template_id, channel, category, title, body,
                                        status, priority, scheduled_for, created_at)
SELECT md5('edulink:notification:logbook:' || u)::uuid, md5('edulink:user:' || u)::uuid, t.id,
       'push', 'reminder', 'Logbook', t.body_template, 'pending', 4,
       timestamptz '2025-11-24 16:00+03', timestamptz '2025-11-21 18:00+03'
  FROM unnest(ARRAY[11, 23, 35]) u
  JOIN notifications_notificationtemplate t ON t.code = 'logbook_reminder' AND t.channel = 'push'
ON CONFLICT (id) DO NOTHING;
