-- Each user's preferences for four category/channel pairs; a quarter switched off
-- application SMS, some keep quiet hours for push notifications.
INSERT INTO notifications_notificationpreference (user_id, category, channel, is_enabled,
                                                  quiet_hours_start, quiet_hours_end, updated_at)
SELECT md5('edulink:user:' || u)::uuid, p.category, p.channel,
       NOT (p.channel = 'sms' AND u % 4 = 0),
       CASE WHEN p.channel = 'push' AND u % 3 = 0 THEN time '22:00' END,
       CASE WHEN p.channel = 'push' AND u % 3 = 0 THEN time '06:30' END,
       timestamptz '2025-08-02 10:00+03' + u * interval '9 hours'
  FROM generate_series(1, 61) u
 CROSS JOIN (VALUES ('application', 'email'), ('application', 'sms'),
                    ('internship', 'push'), ('reminder', 'push')) AS p (category, channel)
ON CONFLICT (user_id, category, channel) DO NOTHING;
