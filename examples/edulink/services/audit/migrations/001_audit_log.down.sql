DROP FUNCTION record_event(text, text, text, text, jsonb);
DROP TABLE audit_log;
DROP FUNCTION audit_log_immutable();
