-- Who wrote each essay of the seed batches: confirmed by the teacher for batches 1–5 and 7,
-- still only suggested (unconfirmed) for batch 6. Batch 8 has not reached matching yet.
INSERT INTO essay_student_associations (essay_id, batch_id, class_id, student_id, match_confidence,
                                        confirmed_by_user_id, confirmed_at, created_at)
SELECT md5('huleedu:essay:' || b || ':' || e)::uuid,
       md5('huleedu:batch:' || b)::uuid,
       md5('huleedu:class:' || c)::uuid,
       md5('huleedu:student:' || ((c - 1) * 24 + e + CASE WHEN b > 6 THEN 4 ELSE 0 END))::uuid,
       CASE WHEN e % 5 = 0 THEN 1.000 ELSE round(0.70 + (e % 7) * 0.04, 3) END,
       CASE WHEN b <> 6 THEN md5('huleedu:user:' || ((c - 1) / 2 + 1))::uuid END,
       CASE WHEN b <> 6 THEN created + interval '7 minutes' END,
       created + interval '5 minutes'
  FROM generate_series(1, 7) b
 CROSS JOIN generate_series(1, 20) e
 CROSS JOIN LATERAL (SELECT (b - 1) % 6 + 1 AS c,
                            timestamptz '2025-09-01 07:30+00' + (b - 1) * interval '4 days' AS created) x
ON CONFLICT (essay_id) DO NOTHING;
