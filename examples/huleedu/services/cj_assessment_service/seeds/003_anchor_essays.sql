-- Graded anchor essays for ENG5 and SV1, two per grade.
INSERT INTO anchor_essay_references (course_code, language, grade, text_storage_id, created_by, created_at)
SELECT c.course_code, c.language, g.grade,
       'anchor-' || md5('huleedu:anchor:' || c.course_code || ':' || g.grade || ':' || n),
       md5('huleedu:user:' || c.teacher)::uuid,
       timestamptz '2025-08-20 10:00+00'
  FROM (VALUES ('ENG5', 'en', 1), ('SV1', 'sv', 3)) AS c (course_code, language, teacher)
 CROSS JOIN unnest('{A,B,C,D,E,F}'::text[]) AS g (grade)
 CROSS JOIN generate_series(1, 2) n
ON CONFLICT (course_code, language, text_storage_id) DO NOTHING;
