-- The shared audit log of the Edulink platform. Services append to it through
-- record_event(...) (SECURITY DEFINER: it runs as this schema's owner, so callers need no
-- right on the table itself); pgfleet grants EXECUTE to every service that reads `audit`.
-- The runtime role may only SELECT and INSERT (append_only in fleet.toml), and a trigger
-- refuses UPDATE, DELETE and TRUNCATE from anyone.

CREATE TABLE audit_log (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id       uuid NOT NULL DEFAULT gen_random_uuid(),
    occurred_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    service        varchar(50) NOT NULL,
    action         varchar(100) NOT NULL,
    entity         varchar(100) NOT NULL,
    entity_id      text,
    actor_user_id  uuid,                              -- auth_schema.authentication_user.id
    db_role        name NOT NULL DEFAULT session_user, -- the login that wrote the event
    detail         jsonb NOT NULL DEFAULT '{}',
    CONSTRAINT audit_log_event_id_key UNIQUE (event_id),
    CONSTRAINT audit_log_service_check CHECK (service ~ '^[a-z][a-z_]*$'),
    CONSTRAINT audit_log_action_check CHECK (action ~ '^[a-z][a-z_.]*$'),
    CONSTRAINT audit_log_detail_check CHECK (jsonb_typeof(detail) = 'object')
);

CREATE INDEX idx_audit_log_entity ON audit_log (entity, entity_id, occurred_at DESC);
CREATE INDEX idx_audit_log_actor ON audit_log (actor_user_id, occurred_at DESC) WHERE actor_user_id IS NOT NULL;
-- Rows arrive in time order: a BRIN index covers time ranges at a fraction of a B-tree's size.
CREATE INDEX idx_audit_log_occurred_at ON audit_log USING brin (occurred_at);

CREATE FUNCTION audit_log_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_log_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_immutable();

CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_immutable();

-- The API of this service. The acting user is taken from app.current_user_id, the setting
-- every service sets per request (the same one user_schema's row level security uses).
CREATE FUNCTION record_event(service text, action text, entity text, entity_id text, detail jsonb)
RETURNS bigint
LANGUAGE sql
SECURITY DEFINER
SET search_path = audit_schema, pg_temp
AS $$
    INSERT INTO audit_log (service, action, entity, entity_id, actor_user_id, detail)
    VALUES (record_event.service,
            record_event.action,
            record_event.entity,
            record_event.entity_id,
            nullif(current_setting('app.current_user_id', true), '')::uuid,
            coalesce(record_event.detail, '{}'::jsonb))
    RETURNING id;
$$;
