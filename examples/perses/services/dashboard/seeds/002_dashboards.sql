-- 30,000 dashboards: 200 OpenShift AI projects (50 teams × dev, staging, prod, sandbox) with 150
-- dashboards each, created between May and October 2025 by the project's five users. Enough rows
-- that the planner takes seed 003's indexes (see examples/perses/explain/).
--
-- Per project: 40 % Model Serving, 25 % Training Job, 15 % Notebook Server, 10 % Data Pipeline
-- (each from its system template) and 10 % custom (a third from a team template); 84 % active,
-- 8 % draft, 8 % archived. Users are <first>.<last>, 25 × 20 of them.
--
-- Re-runnable: ids are md5 of the project and the slot (ON CONFLICT DO NOTHING); every value is
-- computed from the slot, never random.

WITH
projects AS (
    SELECT p,
           (ARRAY['fraud-detection', 'credit-risk', 'churn-prediction', 'recommendations',
                  'search-ranking', 'ad-targeting', 'demand-forecast', 'pricing-engine',
                  'supply-chain', 'inventory-vision', 'support-assistant', 'code-assistant',
                  'doc-summarizer', 'speech-to-text', 'translation', 'chatbot-platform',
                  'genai-sandbox', 'rag-platform', 'knowledge-graph', 'medical-imaging',
                  'claims-automation', 'anomaly-detection', 'predictive-maintenance',
                  'energy-forecast', 'route-optimization', 'sentiment-analysis',
                  'content-moderation', 'image-tagging', 'video-analytics', 'ocr-pipeline',
                  'feature-store', 'data-quality', 'etl-platform', 'streaming-analytics',
                  'marketing-mix', 'ab-testing', 'customer-360', 'identity-verification',
                  'aml-monitoring', 'insurance-pricing', 'retail-vision', 'robotics-perception',
                  'autonomous-qa', 'climate-models', 'genomics', 'drug-discovery', 'nlp-research',
                  'mlops-platform', 'gpu-benchmarks', 'model-governance'])[1 + (p - 1) / 4]
           || '-' || (ARRAY['dev', 'staging', 'prod', 'sandbox'])[1 + (p - 1) % 4] AS project,
           (ARRAY['dev', 'staging', 'prod', 'sandbox'])[1 + (p - 1) % 4] AS env
      FROM generate_series(1, 200) AS p
),
users AS (
    SELECT array_agg((ARRAY['amira', 'bjorn', 'carlos', 'deepa', 'elena', 'farid', 'grace', 'hiro',
                             'ines', 'jonas', 'kemi', 'lars', 'maya', 'nikolai', 'olu', 'priya',
                             'quinn', 'rafael', 'sofia', 'tariq', 'uma', 'viktor', 'wen', 'ximena',
                             'yusuf'])[1 + (u - 1) % 25]
                     || '.' ||
                     (ARRAY['andersen', 'banerjee', 'costa', 'dubois', 'eriksen', 'fischer',
                            'garcia', 'haddad', 'ito', 'jensen', 'kowalski', 'lindqvist', 'moreau',
                            'nakamura', 'okafor', 'petrov', 'rossi', 'silva', 'tanaka', 'weber'])[1 + (u - 1) / 25]
                     ORDER BY u) AS names
      FROM generate_series(1, 500) AS u
),
slots AS (
    SELECT pr.p, pr.project, pr.env, n,
           CASE WHEN k < 8 THEN 'model_serving'
                WHEN k < 13 THEN 'training_job'
                WHEN k < 16 THEN 'notebook_server'
                WHEN k < 18 THEN 'data_pipeline'
                ELSE 'custom' END AS kind,
           (ARRAY['granite-7b-instruct', 'granite-3b-code', 'llama-3-8b-instruct',
                  'llama-3-70b-instruct', 'mistral-7b-instruct', 'mixtral-8x7b', 'flan-t5-xl',
                  'bert-base-ner', 'distilbert-sentiment', 'roberta-toxicity', 'whisper-large-v3',
                  'wav2vec2-asr', 'resnet50-defects', 'efficientnet-b4', 'yolov8-shelf', 'detr-parts',
                  'sam-vit-h', 'clip-vit-b32', 'xgboost-credit', 'lightgbm-churn', 'catboost-pricing',
                  'prophet-demand', 'deepar-forecast', 'tft-energy', 'isolation-forest-fraud',
                  'autoencoder-anomaly', 'two-tower-recsys', 'dlrm-ctr', 'gpt2-small-eval',
                  't5-summarizer', 'm2m100-translate', 'layoutlmv3-ocr'])[1 + (pr.p * 7 + n * 13) % 32] AS model,
           (ARRAY['nightly-feature-refresh', 'batch-scoring', 'ingest-clickstream',
                  'train-eval-register', 'label-sync', 'drift-report', 'backfill-embeddings',
                  'weekly-retrain'])[1 + (pr.p + n) % 8] AS pipeline,
           (n * 7 + pr.p * 3) % 30 AS title_no,
           u.names[((pr.p - 1) * 5 + n % 5) % 500 + 1] AS creator,
           u.names[((pr.p - 1) * 5 + (n + 2) % 5) % 500 + 1] AS editor,
           CASE WHEN (pr.p + n * 7) % 25 < 2 THEN 'archived'
                WHEN (pr.p + n * 7) % 25 < 4 THEN 'draft'
                ELSE 'active' END::dashboard_state AS state,
           timestamptz '2025-05-01 00:00+00'
               + ((pr.p * 7919 + n * 104729) % 262800) * interval '1 minute' AS created_at,
           ((pr.p * 31 + n * 17) % 20000) * interval '1 minute' AS edited_after
      FROM projects pr
      CROSS JOIN users u
      CROSS JOIN generate_series(1, 150) AS n
      CROSS JOIN LATERAL (SELECT (n * 37 + pr.p * 11) % 20 AS k) AS x
),
named AS (
    SELECT s.*,
           CASE s.kind
               WHEN 'model_serving' THEN format('Model Serving – %s rev %s', s.model, n)
               WHEN 'training_job' THEN format('Training Job – %s fine-tune run %s', s.model, n)
               WHEN 'notebook_server' THEN format('Notebook Server – %s workbench %s', split_part(s.creator, '.', 1), n)
               WHEN 'data_pipeline' THEN format('Data Pipeline – %s #%s', s.pipeline, n)
               ELSE (ARRAY['Error budget burn rate', 'GPU capacity planning', 'Cost per 1k inferences',
                           'Latency SLO overview', 'Queue depth and backlog', 'Feature freshness',
                           'Drift monitoring', 'Data quality checks', 'Cluster quota usage',
                           'Node pool utilisation', 'Inference cache hit ratio', 'Token usage by tenant',
                           'Batch scoring throughput', 'Embedding service health', 'Vector index latency',
                           'Kafka consumer lag', 'Object storage traffic', 'PVC usage by workbench',
                           'Model accuracy (online)', 'A/B test traffic split', 'Canary rollout health',
                           'Autoscaler decisions', 'Pod restarts and OOM kills', 'API gateway errors',
                           'Weekly executive summary', 'On-call overview', 'Experiment tracking',
                           'Label queue throughput', 'Spot instance interruptions', 'Team KPIs'])[1 + s.title_no]
                    || ' – ' || s.project
           END AS name,
           CASE s.kind
               WHEN 'model_serving' THEN '00000000-0000-4000-8000-000000000001'::uuid
               WHEN 'training_job' THEN '00000000-0000-4000-8000-000000000002'::uuid
               WHEN 'notebook_server' THEN '00000000-0000-4000-8000-000000000003'::uuid
               WHEN 'data_pipeline' THEN '00000000-0000-4000-8000-000000000004'::uuid
               ELSE CASE WHEN n % 3 = 0
                         THEN ('3f0c7d5e-8a41-4c55-9a3e-1b2d4c6e8f0' || (1 + s.p % 4))::uuid END
           END AS template_id
      FROM slots s
),
slugged AS (
    SELECT nm.*,
           -- Names carry their slot number, but custom titles (which repeat) get it appended.
           rtrim(left(btrim(regexp_replace(lower(nm.name), '[^a-z0-9]+', '-', 'g'), '-'), 68), '-')
               || CASE WHEN nm.kind = 'custom' THEN '-' || n ELSE '' END AS slug,
           1 + (nm.p + n) % 6 AS version,
           nm.created_at + nm.edited_after AS updated_at
      FROM named nm
)
INSERT INTO dashboard (id, project, slug, name, description, template_id, document, state, tags,
                       version, created_by, updated_by, created_at, updated_at, archived_at)
SELECT md5('perses:dashboard:' || s.project || ':' || s.n)::uuid,
       s.project,
       s.slug,
       s.name,
       format('%s dashboard of %s (%s).', initcap(replace(s.kind, '_', ' ')), s.project, s.env),
       s.template_id,
       jsonb_build_object(
           'kind', 'Dashboard',
           'metadata', jsonb_build_object('name', s.slug, 'project', s.project, 'version', s.version,
                                          'createdAt', s.created_at, 'updatedAt', s.updated_at),
           'spec', coalesce(t.spec, jsonb_build_object(
                       'duration', '6h',
                       'variables', '[]'::jsonb,
                       'panels', jsonb_build_object('main', jsonb_build_object('kind', 'Panel', 'spec', jsonb_build_object(
                           'display', jsonb_build_object('name', s.name),
                           'plugin', '{"kind": "TimeSeriesChart", "spec": {}}'::jsonb,
                           'queries', jsonb_build_array(jsonb_build_object('kind', 'TimeSeriesQuery', 'spec',
                               jsonb_build_object('plugin', jsonb_build_object('kind', 'PrometheusTimeSeriesQuery', 'spec',
                                   jsonb_build_object('query', format('sum by (pod) (rate(container_cpu_usage_seconds_total{namespace="%s", container!=""}[5m]))', s.project))))))))),
                       'layouts', '[{"kind": "Grid", "spec": {"items": [{"x": 0, "y": 0, "width": 24, "height": 10,
                                    "content": {"$ref": "#/spec/panels/main"}}]}}]'::jsonb))
                   || jsonb_build_object('display', jsonb_build_object('name', s.name))),
       s.state,
       ARRAY[replace(s.kind, '_', '-'), s.env],
       s.version,
       s.creator,
       s.editor,
       s.created_at,
       s.updated_at,
       CASE WHEN s.state = 'archived' THEN s.updated_at END
  FROM slugged s
  LEFT JOIN dashboard_template t ON t.id = s.template_id
ON CONFLICT DO NOTHING;

-- What the hourly job would find.
SELECT update_template_usage_stats();
