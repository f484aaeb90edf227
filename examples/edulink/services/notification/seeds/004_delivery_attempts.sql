-- Provider hand-offs for every e-mail and SMS: one attempt when it went through, two when the
-- first bounced or timed out, three failures for the SMS that never arrived.
INSERT INTO notifications_deliveryattempt (notification_id, attempt, provider, provider_message_id,
                                           status, error, attempted_at)
SELECT n.id, a.attempt,
       CASE n.channel WHEN 'email' THEN 'sendgrid' ELSE 'africastalking' END,
       CASE WHEN a.ok THEN substr(md5(n.id::text || a.attempt), 1, 22) END,
       CASE WHEN a.ok THEN 'delivered' WHEN n.channel = 'email' THEN 'bounced' ELSE 'failed' END,
       CASE WHEN NOT a.ok THEN CASE n.channel WHEN 'email' THEN '421 4.7.0 try again later'
                                              ELSE 'InsufficientBalance' END END,
       coalesce(n.sent_at, n.created_at + interval '1 minute') - (3 - a.attempt) * interval '5 minutes'
  FROM notifications_notification n
 CROSS JOIN LATERAL (SELECT get_byte(decode(md5(n.id::text), 'hex'), 0) % 8 = 0 AS retried) r
 CROSS JOIN LATERAL (
        SELECT g AS attempt,
               n.status <> 'failed' AND g = CASE WHEN r.retried THEN 2 ELSE 1 END AS ok
          FROM generate_series(1, CASE WHEN n.status = 'failed' THEN 3 WHEN r.retried THEN 2 ELSE 1 END) g
       ) a
 WHERE n.channel IN ('email', 'sms') AND n.status <> 'pending'
ON CONFLICT (notification_id, attempt) DO NOTHING;
