-- expect-index: idx_audit_user_timestamp_2025_12
-- Seed 003 "User audit trail" (<30ms): what one user did in December 2025, newest first. The
-- time window prunes audit_log to one monthly partition, so the plan names that partition's copy
-- of idx_audit_user_timestamp (migration 001 names each partition's index after it).
SELECT created_at, action, resource_type, resource_id, project, result, client_ip
  FROM audit_log
 WHERE user_id = 'priya.costa'
   AND created_at >= '2025-12-01 00:00:00+00'
   AND created_at < '2026-01-01 00:00:00+00'
 ORDER BY created_at DESC
 LIMIT 100;
