-- Reverts 001 completely: the database is left as it was before (pg_dump --schema-only of both
-- is identical). Dependents first; dropping a table drops its indexes, triggers, constraints and,
-- for audit_log, its partitions.
DROP TABLE audit_log;
DROP TABLE share_token;
DROP TABLE user_preferences;
DROP TABLE dashboard;
DROP TABLE dashboard_template;

DROP FUNCTION update_template_usage_stats();
DROP FUNCTION cleanup_expired_tokens();
DROP FUNCTION audit_log_immutable();
DROP FUNCTION set_updated_at();

DROP TYPE audit_result;
DROP TYPE dashboard_state;

-- 001 created it (a new database has no pg_trgm).
DROP EXTENSION pg_trgm;
