-- Students confirmed for every essay of the batches that went past student validation
-- (batches 1–5 and 7); batch 6 is still waiting for its teacher. Student numbering: class c
-- has students (c-1)*24+1 … c*24; the second batch of a class is written by students 5–24.

UPDATE essay_states es
   SET student_id = md5('huleedu:student:' || ((((m.b - 1) % 6)) * 24 + m.e + CASE WHEN m.b > 6 THEN 4 ELSE 0 END))::uuid,
       association_method = CASE WHEN m.e % 5 = 0 THEN 'roster_exact_match' ELSE 'human' END::association_method,
       association_confirmed_at = es.created_at + interval '7 minutes',
       updated_at = es.updated_at + interval '1 second'
  FROM (SELECT b, e FROM generate_series(1, 7) b, generate_series(1, 20) e WHERE b <> 6) m
 WHERE es.essay_id = md5('huleedu:essay:' || m.b || ':' || m.e)::uuid
   AND es.student_id IS NULL;
