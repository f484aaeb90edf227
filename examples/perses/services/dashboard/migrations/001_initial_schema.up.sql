-- Perses dashboard service: the initial schema (seed 003, T010 "V001_initial_schema").
--
-- dashboard_template  pre-configured dashboards per workload type; the four system templates
--                     (FR-003) are inserted at the end of this file
-- dashboard           one Perses Dashboard resource per row, kept whole as JSONB
-- user_preferences    each console user's settings and favourites
-- share_token         ephemeral links to one dashboard (FR-020): random UUID, TTL, CIDR allow-list
-- audit_log           the immutable compliance trail (FR-013), partitioned by month
--
-- Seed 003's schema_version table is not created: pgfleet keeps the history (pgfleet.migrations).
-- Roles and grants are not here either: pgfleet's access-as-code manages them (fleet.toml).

-- Fuzzy dashboard search (autocomplete). A trusted extension: the service's owner role may create
-- it in its own database.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TYPE dashboard_state AS ENUM ('draft', 'active', 'archived');

CREATE TYPE audit_result AS ENUM ('success', 'failure', 'denied');

CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- An explicit updated_at (imports, backfills) is kept; otherwise it is the statement's time.
    IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END;
$$;

COMMENT ON FUNCTION set_updated_at() IS 'BEFORE UPDATE trigger: keeps updated_at current.';

-- ---------------------------------------------------------------------------------------------
-- dashboard_template
-- ---------------------------------------------------------------------------------------------

CREATE TABLE dashboard_template (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name           text NOT NULL,
    description    text NOT NULL DEFAULT '',
    workload_type  text NOT NULL,
    -- A Perses DashboardSpec (display, duration, variables, panels, layouts) with $variables.
    spec           jsonb NOT NULL,
    is_system      boolean NOT NULL DEFAULT false,
    version        integer NOT NULL DEFAULT 1,
    -- Dashboards (not archived) created from this template; kept by update_template_usage_stats().
    usage_count    integer NOT NULL DEFAULT 0,
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dashboard_template_name_check CHECK (char_length(name) BETWEEN 1 AND 128),
    CONSTRAINT dashboard_template_workload_type_check
        CHECK (workload_type IN ('model_serving', 'training_job', 'notebook_server', 'data_pipeline',
                                 'custom')),
    CONSTRAINT dashboard_template_spec_check
        CHECK (jsonb_typeof(spec) = 'object' AND jsonb_typeof(spec -> 'panels') = 'object'),
    CONSTRAINT dashboard_template_version_check CHECK (version >= 1),
    CONSTRAINT dashboard_template_usage_count_check CHECK (usage_count >= 0),
    CONSTRAINT dashboard_template_system_check
        CHECK (NOT is_system OR (created_by = 'system' AND workload_type <> 'custom'))
);

CREATE UNIQUE INDEX idx_dashboard_template_name ON dashboard_template (lower(name));
-- One system template per workload type.
CREATE UNIQUE INDEX idx_dashboard_template_system_workload ON dashboard_template (workload_type)
    WHERE is_system;

-- Usage statistics are not an edit: only these columns move updated_at.
CREATE TRIGGER dashboard_template_set_updated_at
    BEFORE UPDATE OF name, description, workload_type, spec, is_system, version
    ON dashboard_template
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE dashboard_template IS 'Pre-configured dashboards per workload type (FR-003).';

-- ---------------------------------------------------------------------------------------------
-- dashboard
-- ---------------------------------------------------------------------------------------------

CREATE TABLE dashboard (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- The OpenShift project (namespace), which is also the Perses project.
    project      text NOT NULL,
    -- Perses metadata.name: unique in its project, used in URLs.
    slug         text NOT NULL,
    -- spec.display.name: what users see and search.
    name         text NOT NULL,
    description  text NOT NULL DEFAULT '',
    template_id  uuid REFERENCES dashboard_template (id) ON DELETE SET NULL,
    -- The whole Perses resource: {"kind": "Dashboard", "metadata": {...}, "spec": {...}}.
    document     jsonb NOT NULL,
    state        dashboard_state NOT NULL DEFAULT 'active',
    tags         text[] NOT NULL DEFAULT '{}',
    -- Optimistic locking: writers update WHERE version = <read version>, and add one.
    version      integer NOT NULL DEFAULT 1,
    created_by   text NOT NULL,
    updated_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    archived_at  timestamptz,
    CONSTRAINT dashboard_project_slug_key UNIQUE (project, slug),
    CONSTRAINT dashboard_project_check CHECK (project ~ '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$'),
    CONSTRAINT dashboard_slug_check CHECK (slug ~ '^[a-z0-9]([-a-z0-9]{0,73}[a-z0-9])?$'),
    CONSTRAINT dashboard_name_check CHECK (char_length(name) BETWEEN 1 AND 200 AND name = btrim(name)),
    CONSTRAINT dashboard_version_check CHECK (version >= 1),
    CONSTRAINT dashboard_tags_check CHECK (cardinality(tags) <= 20),
    CONSTRAINT dashboard_archived_check CHECK ((state = 'archived') = (archived_at IS NOT NULL)),
    -- The columns the service queries by are the document's own fields, never a second truth.
    CONSTRAINT dashboard_document_check CHECK (
        document ->> 'kind' = 'Dashboard'
        AND document -> 'metadata' ->> 'name' = slug
        AND document -> 'metadata' ->> 'project' = project
        AND jsonb_typeof(document -> 'spec') = 'object'),
    CONSTRAINT dashboard_document_size_check CHECK (pg_column_size(document) <= 1048576)
);

-- List a project's dashboards by name (the project page).
CREATE INDEX idx_dashboard_project_name ON dashboard (project, name);
-- A project's most recent dashboards (the project's home).
CREATE INDEX idx_dashboard_created_at ON dashboard (project, created_at DESC);
-- Autocomplete: name ILIKE '%…%', name % '…' (similarity).
CREATE INDEX idx_dashboard_name_trgm ON dashboard USING gin (name gin_trgm_ops);
-- Containment queries on the document: document @> '{"spec": {"datasource": …}}'.
CREATE INDEX idx_dashboard_document ON dashboard USING gin (document jsonb_path_ops);
CREATE INDEX idx_dashboard_tags ON dashboard USING gin (tags);
-- Recently updated active dashboards across the fleet (admin overview); drafts and the archive
-- are a small share of the rows and stay out of it.
CREATE INDEX idx_dashboard_active ON dashboard (updated_at DESC) WHERE state = 'active';
-- "My dashboards".
CREATE INDEX idx_dashboard_created_by ON dashboard (created_by, created_at DESC);
-- The foreign key (template deletes, usage statistics).
CREATE INDEX idx_dashboard_template ON dashboard (template_id) WHERE template_id IS NOT NULL;

CREATE TRIGGER dashboard_set_updated_at
    BEFORE UPDATE ON dashboard
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE dashboard IS 'Perses dashboards, one Dashboard resource per row (FR-006).';
COMMENT ON COLUMN dashboard.document IS 'The Perses Dashboard resource (kind, metadata, spec) as stored by the API.';

-- ---------------------------------------------------------------------------------------------
-- user_preferences
-- ---------------------------------------------------------------------------------------------

CREATE TABLE user_preferences (
    -- The OpenShift user name (OAuth proxy's X-Forwarded-User).
    user_id                   text PRIMARY KEY,
    theme                     text NOT NULL DEFAULT 'system',
    default_project           text,
    home_dashboard_id         uuid REFERENCES dashboard (id) ON DELETE SET NULL,
    favorite_dashboard_ids    uuid[] NOT NULL DEFAULT '{}',
    default_time_range        text NOT NULL DEFAULT '1h',
    refresh_interval_seconds  integer NOT NULL DEFAULT 30,
    timezone                  text NOT NULL DEFAULT 'browser',
    settings                  jsonb NOT NULL DEFAULT '{}',
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT user_preferences_user_id_check CHECK (char_length(user_id) BETWEEN 1 AND 255),
    CONSTRAINT user_preferences_theme_check CHECK (theme IN ('light', 'dark', 'system')),
    CONSTRAINT user_preferences_default_project_check
        CHECK (default_project ~ '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$'),
    CONSTRAINT user_preferences_favorites_check
        CHECK (cardinality(favorite_dashboard_ids) <= 100
               AND array_position(favorite_dashboard_ids, NULL) IS NULL),
    CONSTRAINT user_preferences_time_range_check CHECK (default_time_range ~ '^[1-9][0-9]{0,3}[mhdw]$'),
    -- 0 turns auto-refresh off; otherwise not more often than every 5 seconds.
    CONSTRAINT user_preferences_refresh_check
        CHECK (refresh_interval_seconds = 0 OR refresh_interval_seconds BETWEEN 5 AND 86400),
    CONSTRAINT user_preferences_settings_check CHECK (jsonb_typeof(settings) = 'object')
);

-- The foreign key: deleting a dashboard clears it from its users' home.
CREATE INDEX idx_user_preferences_home_dashboard ON user_preferences (home_dashboard_id)
    WHERE home_dashboard_id IS NOT NULL;

CREATE TRIGGER user_preferences_set_updated_at
    BEFORE UPDATE ON user_preferences
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE user_preferences IS 'Per-user settings and favourites of the dashboard console.';

-- ---------------------------------------------------------------------------------------------
-- share_token
-- ---------------------------------------------------------------------------------------------

CREATE TABLE share_token (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- The secret in the link: a random (version 4) UUID, so tokens cannot be enumerated.
    token           uuid NOT NULL DEFAULT gen_random_uuid(),
    dashboard_id    uuid NOT NULL REFERENCES dashboard (id) ON DELETE CASCADE,
    permission      text NOT NULL DEFAULT 'view',
    -- Client networks the link works from; empty: any address.
    allowed_cidrs   cidr[] NOT NULL DEFAULT '{}',
    max_uses        integer,
    use_count       integer NOT NULL DEFAULT 0,
    description     text NOT NULL DEFAULT '',
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL DEFAULT now() + interval '24 hours',
    last_used_at    timestamptz,
    revoked_at      timestamptz,
    revoked_by      text,
    CONSTRAINT share_token_permission_check CHECK (permission IN ('view', 'edit')),
    -- Ephemeral: a link ends after it starts, and at most 30 days later.
    CONSTRAINT share_token_ttl_check
        CHECK (expires_at > created_at AND expires_at - created_at <= interval '30 days'),
    CONSTRAINT share_token_cidrs_check
        CHECK (cardinality(allowed_cidrs) <= 32 AND array_position(allowed_cidrs, NULL) IS NULL),
    CONSTRAINT share_token_uses_check
        CHECK (use_count >= 0 AND (max_uses IS NULL OR (max_uses > 0 AND use_count <= max_uses))),
    CONSTRAINT share_token_revoked_check
        CHECK ((revoked_at IS NULL) = (revoked_by IS NULL)
               AND (revoked_at IS NULL OR revoked_at >= created_at)),
    CONSTRAINT share_token_last_used_check CHECK (last_used_at IS NULL OR last_used_at >= created_at)
);

-- Validating a link: WHERE token = $1 AND revoked_at IS NULL AND expires_at > now(). Revoked
-- links stay out of it (expiry depends on now(), which an index predicate cannot use; expired
-- links leave with cleanup_expired_tokens()). It is also the token's uniqueness, where it matters:
-- among the links that can still open a dashboard. A revoked token is never looked up again, and
-- a second index on every token would be one the planner may prefer for this very lookup.
CREATE UNIQUE INDEX idx_share_token_active ON share_token (token) INCLUDE (expires_at)
    WHERE revoked_at IS NULL;
-- A dashboard's links (the share dialog), and the foreign key's cascade.
CREATE INDEX idx_share_token_dashboard ON share_token (dashboard_id, created_at DESC);
-- cleanup_expired_tokens().
CREATE INDEX idx_share_token_expires ON share_token (expires_at);

COMMENT ON TABLE share_token IS 'Ephemeral share links to one dashboard (FR-020).';

-- ---------------------------------------------------------------------------------------------
-- audit_log
-- ---------------------------------------------------------------------------------------------

-- Immutable: the runtime role may only INSERT and SELECT (append_only in fleet.toml), and this
-- table's trigger refuses UPDATE and DELETE from every role. Partitioned by month for the 7-year
-- retention: old months are detached or dropped whole, which no row trigger sees. No foreign keys:
-- the trail outlives what it describes.
CREATE TABLE audit_log (
    id             uuid NOT NULL DEFAULT gen_random_uuid(),
    created_at     timestamptz NOT NULL DEFAULT now(),
    -- Who, what, where, result (SOC2): the OpenShift user, or system:<job> for maintenance.
    user_id        text NOT NULL,
    action         text NOT NULL,
    resource_type  text NOT NULL,
    resource_id    text,
    project        text,
    result         audit_result NOT NULL DEFAULT 'success',
    client_ip      inet,
    user_agent     text,
    request_id     uuid,
    details        jsonb NOT NULL DEFAULT '{}',
    -- A partitioned table's key includes the partition key.
    CONSTRAINT audit_log_pkey PRIMARY KEY (id, created_at),
    CONSTRAINT audit_log_user_id_check CHECK (char_length(user_id) BETWEEN 1 AND 255),
    CONSTRAINT audit_log_action_check CHECK (action ~ '^[a-z_]+\.[a-z_]+$'),
    CONSTRAINT audit_log_resource_type_check
        CHECK (resource_type IN ('dashboard', 'dashboard_template', 'share_token', 'user_preferences',
                                 'system')),
    CONSTRAINT audit_log_details_check CHECK (jsonb_typeof(details) = 'object')
) PARTITION BY RANGE (created_at);

-- The first months of the service; a later migration (or pg_partman) adds the months ahead.
-- Rows outside every month land in the default partition rather than fail.
CREATE TABLE audit_log_2025_11 PARTITION OF audit_log
    FOR VALUES FROM ('2025-11-01 00:00:00+00') TO ('2025-12-01 00:00:00+00');
CREATE TABLE audit_log_2025_12 PARTITION OF audit_log
    FOR VALUES FROM ('2025-12-01 00:00:00+00') TO ('2026-01-01 00:00:00+00');
CREATE TABLE audit_log_2026_01 PARTITION OF audit_log
    FOR VALUES FROM ('2026-01-01 00:00:00+00') TO ('2026-02-01 00:00:00+00');
CREATE TABLE audit_log_2026_02 PARTITION OF audit_log
    FOR VALUES FROM ('2026-02-01 00:00:00+00') TO ('2026-03-01 00:00:00+00');
CREATE TABLE audit_log_2026_03 PARTITION OF audit_log
    FOR VALUES FROM ('2026-03-01 00:00:00+00') TO ('2026-04-01 00:00:00+00');
CREATE TABLE audit_log_2026_04 PARTITION OF audit_log
    FOR VALUES FROM ('2026-04-01 00:00:00+00') TO ('2026-05-01 00:00:00+00');
CREATE TABLE audit_log_default PARTITION OF audit_log DEFAULT;

-- A user's audit trail. Plans show the partitions' indexes, never the parent's, so each
-- partition's is created first under a name of its own; the parent index then adopts them.
-- (Partitions added later get generated names.)
CREATE INDEX idx_audit_user_timestamp_2025_11 ON audit_log_2025_11 (user_id, created_at DESC);
CREATE INDEX idx_audit_user_timestamp_2025_12 ON audit_log_2025_12 (user_id, created_at DESC);
CREATE INDEX idx_audit_user_timestamp_2026_01 ON audit_log_2026_01 (user_id, created_at DESC);
CREATE INDEX idx_audit_user_timestamp_2026_02 ON audit_log_2026_02 (user_id, created_at DESC);
CREATE INDEX idx_audit_user_timestamp_2026_03 ON audit_log_2026_03 (user_id, created_at DESC);
CREATE INDEX idx_audit_user_timestamp_2026_04 ON audit_log_2026_04 (user_id, created_at DESC);
CREATE INDEX idx_audit_user_timestamp_default ON audit_log_default (user_id, created_at DESC);
CREATE INDEX idx_audit_user_timestamp ON audit_log (user_id, created_at DESC);
-- Everything that happened to one object ("who changed this dashboard?").
CREATE INDEX idx_audit_resource ON audit_log (resource_type, resource_id, created_at DESC);
-- A project's activity.
CREATE INDEX idx_audit_project_timestamp ON audit_log (project, created_at DESC)
    WHERE project IS NOT NULL;

CREATE FUNCTION audit_log_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Retention detaches or drops whole monthly partitions.';
END;
$$;

COMMENT ON FUNCTION audit_log_immutable() IS 'BEFORE UPDATE OR DELETE trigger of audit_log: refuses both.';

-- On the partitioned table, so every partition (present and future) has it.
CREATE TRIGGER audit_log_immutable
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_immutable();

COMMENT ON TABLE audit_log IS 'Immutable audit trail (FR-013; SOC2, ISO 27001), one partition per month.';

-- ---------------------------------------------------------------------------------------------
-- Maintenance procedures (seed 003): called by the service's scheduler as its runtime role.
-- ---------------------------------------------------------------------------------------------

-- Daily. Tokens expired or revoked more than a day ago are deleted: a link opened just after its
-- end still finds its row and says "expired" rather than "not found". Returns the number deleted.
CREATE FUNCTION cleanup_expired_tokens() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    deleted integer;
BEGIN
    DELETE FROM share_token
     WHERE expires_at < now() - interval '1 day'
        OR revoked_at < now() - interval '1 day';
    GET DIAGNOSTICS deleted = ROW_COUNT;
    IF deleted > 0 THEN
        INSERT INTO audit_log (user_id, action, resource_type, details)
        VALUES ('system:token-cleanup', 'share_token.cleanup', 'share_token',
                jsonb_build_object('deleted', deleted));
    END IF;
    RETURN deleted;
END;
$$;

COMMENT ON FUNCTION cleanup_expired_tokens() IS 'Daily: deletes share tokens expired or revoked over a day ago.';

-- Hourly. Recounts each template's dashboards (archived ones excluded); returns the number of
-- templates whose count changed.
CREATE FUNCTION update_template_usage_stats() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    changed integer;
BEGIN
    UPDATE dashboard_template t
       SET usage_count = s.dashboards
      FROM (SELECT tt.id, count(d.id)::integer AS dashboards
              FROM dashboard_template tt
              LEFT JOIN dashboard d ON d.template_id = tt.id AND d.state <> 'archived'
             GROUP BY tt.id) s
     WHERE s.id = t.id
       AND t.usage_count <> s.dashboards;
    GET DIAGNOSTICS changed = ROW_COUNT;
    RETURN changed;
END;
$$;

COMMENT ON FUNCTION update_template_usage_stats() IS 'Hourly: recounts dashboard_template.usage_count.';

-- ---------------------------------------------------------------------------------------------
-- The system templates (FR-003): one per OpenShift AI workload type, with stable ids so every
-- environment has the same ones. Metrics: vLLM/KServe, NVIDIA DCGM, cAdvisor and
-- kube-state-metrics, Argo Workflows (Data Science Pipelines), all through the cluster's
-- Thanos querier.
-- ---------------------------------------------------------------------------------------------

INSERT INTO dashboard_template (id, name, description, workload_type, spec, is_system, created_by)
VALUES
(
    '00000000-0000-4000-8000-000000000001',
    'Model Serving',
    'Request rate, latency, token throughput and GPU use of a served model (KServe, vLLM runtime).',
    'model_serving',
    '{
      "display": {"name": "Model Serving"},
      "duration": "1h",
      "refreshInterval": "30s",
      "variables": [
        {"kind": "ListVariable", "spec": {"name": "namespace", "display": {"name": "Project"},
          "plugin": {"kind": "PrometheusLabelValuesVariable", "spec": {"labelName": "namespace"}}}},
        {"kind": "ListVariable", "spec": {"name": "model", "display": {"name": "Model"},
          "plugin": {"kind": "PrometheusLabelValuesVariable",
                     "spec": {"labelName": "model_name", "matchers": ["vllm:request_success_total{namespace=\"$namespace\"}"]}}}}
      ],
      "panels": {
        "requests": {"kind": "Panel", "spec": {
          "display": {"name": "Requests per second"},
          "plugin": {"kind": "TimeSeriesChart", "spec": {"yAxis": {"format": {"unit": "requests/sec"}}}},
          "queries": [{"kind": "TimeSeriesQuery", "spec": {"plugin": {"kind": "PrometheusTimeSeriesQuery",
            "spec": {"query": "sum(rate(vllm:request_success_total{namespace=\"$namespace\", model_name=\"$model\"}[5m]))"}}}}]}},
        "latency": {"kind": "Panel", "spec": {
          "display": {"name": "End-to-end latency (p50, p95, p99)"},
          "plugin": {"kind": "TimeSeriesChart", "spec": {"yAxis": {"format": {"unit": "seconds"}}}},
          "queries": [
            {"kind": "TimeSeriesQuery", "spec": {"plugin": {"kind": "PrometheusTimeSeriesQuery",
              "spec": {"query": "histogram_quantile(0.50, sum by (le) (rate(vllm:e2e_request_latency_seconds_bucket{namespace=\"$namespace\", model_name=\"$model\"}[5m])))", "seriesNameFormat": "p50"}}}},
            {"kind": "TimeSeriesQuery", "spec": {"plugin": {"kind": "PrometheusTimeSeriesQuery",
              "spec": {"query": "histogram_quantile(0.95, sum by (le) (rate(vllm:e2e_request_latency_seconds_bucket{namespace=\"$namespace\", model_name=\"$model\"}[5m])))", "seriesNameFormat": "p95"}}}},
            {"kind": "TimeSeriesQuery", "spec": {"plugin": {"kind": "PrometheusTimeSeriesQuery",
              "spec": {"query": "histogram_quantile(0.99, sum by (le) (rate(vllm:e2e_request_latency_seconds_bucket{namespace=\"$namespace\", model_name=\"$model\"}[5m])))", "seriesNameFormat": "p99"}}}}]}},
        "tokens": {"kind": "Panel", "spec": {
          "display": {"name": "Generated tokens per second"},
          "plugin": {"kind": "TimeSeriesChart", "spec": {}},
          "queries": [{"kind": "TimeSeriesQuery", "spec": {"plugin": {"kind": "PrometheusTimeSeriesQuery",
            "spec": {"query": "sum(rate(vllm:generation_tokens_total{namespace=\"$namespace\", model_name=\"$model\"}[5m]))"}}}}]}},
        "gpu": {"kind": "Panel", "spec": {
          "display": {"name": "GPU utilisation"},
          "plugin": {"kind": "GaugeChart", "spec": {"calculation": "last", "format": {"unit": "percent"}}},
          "queries": [{"kind": "TimeSeriesQuery", "spec": {"plugin": {"kind": "PrometheusTimeSeriesQuery",
            "spec": {"query": "avg(DCGM_FI_DEV_GPU_UTIL{exported_namespace=\"$namespace\", exported_pod=~\"$model-predictor-.*\"})"}}}}]}}
      },
      "layouts": [{"kind": "Grid", "spec": {"display": {"title": "Traffic"}, "items": [
        {"x": 0, "y": 0, "width": 12, "height": 8, "content": {"$ref": "#/spec/panels/requests"}},
        {"x": 12, "y": 0, "width": 12, "height": 8, "content": {"$ref": "#/spec/panels/latency"}},
        {"x": 0, "y": 8, "width": 16, "height": 8, "content": {"$ref": "#/spec/panels/tokens"}},
        {"x": 16, "y": 8, "width": 8, "height": 8, "content": {"$ref": "#/spec/panels/gpu"}}]}}]
    }',
    true,
    'system'
),
(
    '00000000-0000-4000-8000-000000000002',
    'Training Job',
    'GPU, CPU and memory of each worker of a distributed training job (Kubeflow Training Operator).',
    'training_job',
    '{
      "display": {"name": "Training Job"},
      "duration": "6h",
      "refreshInterval": "1m",
      "variables": [
        {"kind": "ListVariable", "spec": {"name": "namespace", "display": {"name": "Project"},
          "plugin": {"kind": "PrometheusLabelValuesVariable", "spec": {"labelName": "namespace"}}}},
        {"kind": "ListVariable", "spec": {"name": "job", "display": {"name": "Training job"},
          "plugin": {"kind": "PrometheusLabelValuesVariable",
                     "spec": {"labelName": "label_training_kubeflow_org_job_name", "matchers": ["kube_pod_labels{namespace=\"$namespace\"}"]}}}}
      ],
      "panels": {
        "gpu_util": {"kind": "Panel", "spec": {
          "display": {"name": "GPU utilisation by worker"},
          "plugin": {"kind": "TimeSeriesChart", "spec": {"yAxis": {"format": {"unit": "percent"}}}},
          "queries": [{"kind": "TimeSeriesQuery", "spec": {"plugin": {"kind": "PrometheusTimeSeriesQuery",
            "spec": {"query": "avg by (exported_pod) (DCGM_FI_DEV_GPU_UTIL{exported_namespace=\"$namespace\", exported_pod=~\"$job-(master|worker)-.*\"})", "seriesNameFormat": "{{exported_pod}}"}}}}]}},
        "gpu_memory": {"kind": "Panel", "spec": {
          "display": {"name": "GPU memory used"},
          "plugin": {"kind": "TimeSeriesChart", "spec": {"yAxis": {"format": {"unit": "bytes"}}}},
          "queries": [{"kind": "TimeSeriesQuery", "spec": {"plugin": {"kind": "PrometheusTimeSeriesQuery",
            "spec": {"query": "sum by (exported_pod) (DCGM_FI_DEV_FB_USED{exported_namespace=\"$namespace\", exported_pod=~\"$job-.*\"}) * 1048576", "seriesNameFormat": "{{exported_pod}}"}}}}]}},
        "cpu": {"kind": "Panel", "spec": {
          "display": {"name": "CPU cores"},
          "plugin": {"kind": "TimeSeriesChart", "spec": {}},
          "queries": [{"kind": "TimeSeriesQuery", "spec": {"plugin": {"kind": "PrometheusTimeSeriesQuery",
            "spec": {"query": "sum by (pod) (rate(container_cpu_usage_seconds_total{namespace=\"$namespace\", pod=~\"$job-.*\", container!=\"\"}[5m]))", "seriesNameFormat": "{{pod}}"}}}}]}},
        "memory": {"kind": "Panel", "spec": {
          "display": {"name": "Memory working set"},
          "plugin": {"kind": "TimeSeriesChart", "spec": {"yAxis": {"format": {"unit": "bytes"}}}},
          "queries": [{"kind": "TimeSeriesQuery", "spec": {"plugin": {"kind": "PrometheusTimeSeriesQuery",
            "spec": {"query": "sum by (pod) (container_memory_working_set_bytes{namespace=\"$namespace\", pod=~\"$job-.*\", container!=\"\"})", "seriesNameFormat": "{{pod}}"}}}}]}}
      },
      "layouts": [{"kind": "Grid", "spec": {"display": {"title": "Workers"}, "items": [
        {"x": 0, "y": 0, "width": 12, "height": 8, "content": {"$ref": "#/spec/panels/gpu_util"}},
        {"x": 12, "y": 0, "width": 12, "height": 8, "content": {"$ref": "#/spec/panels/gpu_memory"}},
        {"x": 0, "y": 8, "width": 12, "height": 8, "content": {"$ref": "#/spec/panels/cpu"}},
        {"x": 12, "y": 8, "width": 12, "height": 8, "content": {"$ref": "#/spec/panels/memory"}}]}}]
    }',
    true,
    'system'
),
(
    '00000000-0000-4000-8000-000000000003',
    'Notebook Server',
    'Resource use of a workbench (Jupyter notebook server) against its requests and limits.',
    'notebook_server',
    '{
      "display": {"name": "Notebook Server"},
      "duration": "12h",
      "refreshInterval": "1m",
      "variables": [
        {"kind": "ListVariable", "spec": {"name": "namespace", "display": {"name": "Project"},
          "plugin": {"kind": "PrometheusLabelValuesVariable", "spec": {"labelName": "namespace"}}}},
        {"kind": "ListVariable", "spec": {"name": "notebook", "display": {"name": "Workbench"},
          "plugin": {"kind": "PrometheusLabelValuesVariable",
                     "spec": {"labelName": "label_notebook_name", "matchers": ["kube_pod_labels{namespace=\"$namespace\"}"]}}}}
      ],
      "panels": {
        "cpu": {"kind": "Panel", "spec": {
          "display": {"name": "CPU used / requested"},
          "plugin": {"kind": "TimeSeriesChart", "spec": {}},
          "queries": [
            {"kind": "TimeSeriesQuery", "spec": {"plugin": {"kind": "PrometheusTimeSeriesQuery",
              "spec": {"query": "sum(rate(container_cpu_usage_seconds_total{namespace=\"$namespace\", pod=~\"$notebook-.*\", container=\"$notebook\"}[5m]))", "seriesNameFormat": "used"}}}},
            {"kind": "TimeSeriesQuery", "spec": {"plugin": {"kind": "PrometheusTimeSeriesQuery",
              "spec": {"query": "sum(kube_pod_container_resource_requests{namespace=\"$namespace\", pod=~\"$notebook-.*\", resource=\"cpu\"})", "seriesNameFormat": "requested"}}}}]}},
        "memory": {"kind": "Panel", "spec": {
          "display": {"name": "Memory used / limit"},
          "plugin": {"kind": "TimeSeriesChart", "spec": {"yAxis": {"format": {"unit": "bytes"}}}},
          "queries": [
            {"kind": "TimeSeriesQuery", "spec": {"plugin": {"kind": "PrometheusTimeSeriesQuery",
              "spec": {"query": "sum(container_memory_working_set_bytes{namespace=\"$namespace\", pod=~\"$notebook-.*\", container=\"$notebook\"})", "seriesNameFormat": "used"}}}},
            {"kind": "TimeSeriesQuery", "spec": {"plugin": {"kind": "PrometheusTimeSeriesQuery",
              "spec": {"query": "sum(kube_pod_container_resource_limits{namespace=\"$namespace\", pod=~\"$notebook-.*\", resource=\"memory\"})", "seriesNameFormat": "limit"}}}}]}},
        "storage": {"kind": "Panel", "spec": {
          "display": {"name": "Workbench storage used"},
          "plugin": {"kind": "GaugeChart", "spec": {"calculation": "last", "format": {"unit": "percent-decimal"}}},
          "queries": [{"kind": "TimeSeriesQuery", "spec": {"plugin": {"kind": "PrometheusTimeSeriesQuery",
            "spec": {"query": "max(kubelet_volume_stats_used_bytes{namespace=\"$namespace\", persistentvolumeclaim=\"$notebook\"} / kubelet_volume_stats_capacity_bytes{namespace=\"$namespace\", persistentvolumeclaim=\"$notebook\"})"}}}}]}},
        "restarts": {"kind": "Panel", "spec": {
          "display": {"name": "Restarts (24h)"},
          "plugin": {"kind": "StatChart", "spec": {"calculation": "last"}},
          "queries": [{"kind": "TimeSeriesQuery", "spec": {"plugin": {"kind": "PrometheusTimeSeriesQuery",
            "spec": {"query": "sum(increase(kube_pod_container_status_restarts_total{namespace=\"$namespace\", pod=~\"$notebook-.*\"}[24h]))"}}}}]}}
      },
      "layouts": [{"kind": "Grid", "spec": {"display": {"title": "Workbench"}, "items": [
        {"x": 0, "y": 0, "width": 12, "height": 8, "content": {"$ref": "#/spec/panels/cpu"}},
        {"x": 12, "y": 0, "width": 12, "height": 8, "content": {"$ref": "#/spec/panels/memory"}},
        {"x": 0, "y": 8, "width": 12, "height": 6, "content": {"$ref": "#/spec/panels/storage"}},
        {"x": 12, "y": 8, "width": 12, "height": 6, "content": {"$ref": "#/spec/panels/restarts"}}]}}]
    }',
    true,
    'system'
),
(
    '00000000-0000-4000-8000-000000000004',
    'Data Pipeline',
    'Runs, failures and step durations of data science pipelines (Kubeflow Pipelines on Argo Workflows).',
    'data_pipeline',
    '{
      "display": {"name": "Data Pipeline"},
      "duration": "24h",
      "refreshInterval": "5m",
      "variables": [
        {"kind": "ListVariable", "spec": {"name": "namespace", "display": {"name": "Project"},
          "plugin": {"kind": "PrometheusLabelValuesVariable", "spec": {"labelName": "namespace"}}}}
      ],
      "panels": {
        "runs": {"kind": "Panel", "spec": {
          "display": {"name": "Pipeline runs by phase"},
          "plugin": {"kind": "TimeSeriesChart", "spec": {"visual": {"stack": "all"}}},
          "queries": [{"kind": "TimeSeriesQuery", "spec": {"plugin": {"kind": "PrometheusTimeSeriesQuery",
            "spec": {"query": "sum by (phase) (argo_workflows_gauge{namespace=\"$namespace\"})", "seriesNameFormat": "{{phase}}"}}}}]}},
        "failed_pods": {"kind": "Panel", "spec": {
          "display": {"name": "Failed step pods"},
          "plugin": {"kind": "StatChart", "spec": {"calculation": "last"}},
          "queries": [{"kind": "TimeSeriesQuery", "spec": {"plugin": {"kind": "PrometheusTimeSeriesQuery",
            "spec": {"query": "sum(kube_pod_status_phase{namespace=\"$namespace\", phase=\"Failed\", pod=~\".*-system-container-impl-.*\"})"}}}}]}},
        "step_duration": {"kind": "Panel", "spec": {
          "display": {"name": "Workflow operation duration (p95)"},
          "plugin": {"kind": "TimeSeriesChart", "spec": {"yAxis": {"format": {"unit": "seconds"}}}},
          "queries": [{"kind": "TimeSeriesQuery", "spec": {"plugin": {"kind": "PrometheusTimeSeriesQuery",
            "spec": {"query": "histogram_quantile(0.95, sum by (le) (rate(argo_workflows_operation_duration_seconds_bucket{namespace=\"$namespace\"}[15m])))"}}}}]}},
        "cpu": {"kind": "Panel", "spec": {
          "display": {"name": "CPU cores used by steps"},
          "plugin": {"kind": "TimeSeriesChart", "spec": {}},
          "queries": [{"kind": "TimeSeriesQuery", "spec": {"plugin": {"kind": "PrometheusTimeSeriesQuery",
            "spec": {"query": "sum(rate(container_cpu_usage_seconds_total{namespace=\"$namespace\", container=\"main\"}[5m]))"}}}}]}}
      },
      "layouts": [{"kind": "Grid", "spec": {"display": {"title": "Pipelines"}, "items": [
        {"x": 0, "y": 0, "width": 16, "height": 8, "content": {"$ref": "#/spec/panels/runs"}},
        {"x": 16, "y": 0, "width": 8, "height": 8, "content": {"$ref": "#/spec/panels/failed_pods"}},
        {"x": 0, "y": 8, "width": 12, "height": 8, "content": {"$ref": "#/spec/panels/step_duration"}},
        {"x": 12, "y": 8, "width": 12, "height": 8, "content": {"$ref": "#/spec/panels/cpu"}}]}}]
    }',
    true,
    'system'
);
