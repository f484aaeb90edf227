-- Daily activity per service and action, for the operations dashboard and anomaly alerts
-- (a burst of auth.login_failed, an unusual number of application.status_changed…).
CREATE VIEW audit_daily_summary AS
SELECT date_trunc('day', occurred_at)::date AS day,
       service,
       action,
       count(*)                             AS events,
       count(DISTINCT actor_user_id)        AS actors
  FROM audit_log
 GROUP BY 1, 2, 3;
