-- Team templates next to the four system ones of migration 001: what platform teams share with
-- their projects. Re-runnable: fixed ids, ON CONFLICT DO NOTHING.

INSERT INTO dashboard_template (id, name, description, workload_type, spec, is_system, created_by,
                                created_at, updated_at)
SELECT t.id::uuid, t.name, t.description, t.workload_type,
       jsonb_build_object(
           'display', jsonb_build_object('name', t.name),
           'duration', t.duration,
           'refreshInterval', '1m',
           'variables', '[{"kind": "ListVariable", "spec": {"name": "namespace", "display": {"name": "Project"},
                          "plugin": {"kind": "PrometheusLabelValuesVariable", "spec": {"labelName": "namespace"}}}}]'::jsonb,
           'panels', jsonb_build_object(
               'main', jsonb_build_object('kind', 'Panel', 'spec', jsonb_build_object(
                   'display', jsonb_build_object('name', t.panel),
                   'plugin', '{"kind": "TimeSeriesChart", "spec": {}}'::jsonb,
                   'queries', jsonb_build_array(jsonb_build_object('kind', 'TimeSeriesQuery', 'spec',
                       jsonb_build_object('plugin', jsonb_build_object('kind', 'PrometheusTimeSeriesQuery',
                           'spec', jsonb_build_object('query', t.query)))))))),
           'layouts', '[{"kind": "Grid", "spec": {"items": [{"x": 0, "y": 0, "width": 24, "height": 10,
                        "content": {"$ref": "#/spec/panels/main"}}]}}]'::jsonb),
       false, t.created_by, t.created_at, t.created_at
  FROM (VALUES
    ('3f0c7d5e-8a41-4c55-9a3e-1b2d4c6e8f01', 'LLM Inference (vLLM)', 'Queue, KV-cache and time to first token of vLLM runtimes.',
     'model_serving', '3h', 'Time to first token (p95)',
     'histogram_quantile(0.95, sum by (le, model_name) (rate(vllm:time_to_first_token_seconds_bucket{namespace="$namespace"}[5m])))',
     'priya.costa', timestamptz '2025-05-12 09:30+00'),
    ('3f0c7d5e-8a41-4c55-9a3e-1b2d4c6e8f02', 'GPU Fleet Overview', 'Every GPU of the project: utilisation, memory, temperature.',
     'custom', '24h', 'GPU utilisation by node',
     'avg by (Hostname) (DCGM_FI_DEV_GPU_UTIL{exported_namespace="$namespace"})',
     'jonas.eriksen', timestamptz '2025-05-20 14:05+00'),
    ('3f0c7d5e-8a41-4c55-9a3e-1b2d4c6e8f03', 'Feature Store Freshness', 'Age of the newest row of each Feast feature view.',
     'data_pipeline', '7d', 'Feature view staleness',
     'max by (feature_view) (time() - feast_feature_view_last_materialized_timestamp{namespace="$namespace"})',
     'kemi.okafor', timestamptz '2025-06-03 08:00+00'),
    ('3f0c7d5e-8a41-4c55-9a3e-1b2d4c6e8f04', 'Batch Scoring Jobs', 'Duration and outcome of scheduled batch scoring runs.',
     'training_job', '7d', 'Job duration',
     'max by (job_name) (kube_job_status_completion_time{namespace="$namespace"} - kube_job_status_start_time{namespace="$namespace"})',
     'rafael.silva', timestamptz '2025-06-18 16:45+00')
  ) AS t (id, name, description, workload_type, duration, panel, query, created_by, created_at)
ON CONFLICT DO NOTHING;
