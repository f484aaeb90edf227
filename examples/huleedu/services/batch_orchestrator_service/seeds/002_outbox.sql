-- Outbox events already relayed for the finished batches, and one waiting to be published.

INSERT INTO event_outbox (id, aggregate_type, aggregate_id, event_type, topic, event_key,
                          payload, created_at, published_at)
SELECT md5('huleedu:bos-event:' || b.id || ':' || e.event_type)::uuid,
       'batch',
       b.id,
       e.event_type,
       e.topic,
       b.id::text,
       jsonb_build_object('batch_id', b.id, 'correlation_id', b.correlation_id,
                          'status', b.status, 'essay_count', b.expected_essay_count),
       b.created_at + e.after,
       CASE WHEN e.published THEN b.created_at + e.after + interval '150 milliseconds' END
  FROM batches b
  JOIN (VALUES
        ('huleedu.bos.batch.registered.v1',          'huleedu.batch.registered.v1',          interval '0',          true, false),
        ('huleedu.bos.spellcheck.initiate.command.v1', 'huleedu.els.spellcheck.initiate.command.v1', interval '10 minutes', true, false),
        ('huleedu.bos.batch.completed.v1',           'huleedu.batch.completed.v1',           interval '2 hours',    true, true)
       ) AS e (event_type, topic, after, published, terminal_only)
    ON NOT e.terminal_only OR b.completed_at IS NOT NULL
 WHERE b.id IN (SELECT md5('huleedu:batch:' || n)::uuid FROM generate_series(1, 7) n)
   AND (e.event_type = 'huleedu.bos.batch.registered.v1' OR b.status <> 'ready_for_pipeline_execution')
   AND (e.event_type = 'huleedu.bos.batch.registered.v1' OR b.status <> 'awaiting_student_validation')
ON CONFLICT (id) DO NOTHING;

-- Batch 7 was just released by its teacher: the command is in the outbox, not yet relayed.
INSERT INTO event_outbox (id, aggregate_type, aggregate_id, event_type, topic, event_key, payload, created_at)
VALUES (md5('huleedu:bos-event:pending:7')::uuid, 'batch', md5('huleedu:batch:7')::uuid,
        'huleedu.bos.spellcheck.initiate.command.v1', 'huleedu.els.spellcheck.initiate.command.v1',
        md5('huleedu:batch:7')::uuid::text,
        jsonb_build_object('batch_id', md5('huleedu:batch:7')::uuid, 'language', 'en'),
        timestamptz '2025-09-25 09:45+00')
ON CONFLICT (id) DO NOTHING;
