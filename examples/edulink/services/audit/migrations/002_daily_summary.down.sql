DROP VIEW audit_daily_summary;
