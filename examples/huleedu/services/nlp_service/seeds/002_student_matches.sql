-- Roster matching for batches 1–7: the student who wrote the essay, and for every fourth essay
-- a weaker second candidate from the same class (a classmate with a similar name).
INSERT INTO student_match_suggestions (essay_id, batch_id, student_id, extracted_name, match_reason,
                                       confidence, created_at)
SELECT md5('huleedu:essay:' || b || ':' || e)::uuid,
       md5('huleedu:batch:' || b)::uuid,
       md5('huleedu:student:' || s)::uuid,
       -- The name as written in the essay (class_management_service's seed names, sometimes shortened).
       CASE WHEN e % 3 = 0 THEN NULL
            ELSE (CASE WHEN e % 2 = 0 THEN left(n.first_name, 3) ELSE n.first_name END) || ' ' || n.last_name
       END,
       CASE WHEN e % 3 = 0 THEN 'filename' WHEN m.candidate = 2 THEN 'name_fuzzy'
            WHEN e % 5 = 0 THEN 'name_exact' ELSE 'name_fuzzy' END,
       CASE WHEN m.candidate = 2 THEN 0.410 WHEN e % 5 = 0 THEN 1.000 ELSE round(0.70 + (e % 7) * 0.04, 3) END,
       timestamptz '2025-09-01 07:35+00' + (b - 1) * interval '4 days' + e * interval '20 seconds'
  FROM generate_series(1, 7) b
 CROSS JOIN generate_series(1, 20) e
 CROSS JOIN LATERAL (VALUES (1), (2)) AS m (candidate)
 CROSS JOIN LATERAL (SELECT ((b - 1) % 6) * 24 + CASE WHEN b > 6 THEN 4 ELSE 0 END
                            + CASE m.candidate WHEN 1 THEN e ELSE (e + 2) % 20 + 1 END AS s) st
 CROSS JOIN LATERAL (SELECT ('{Alva,Elias,Maja,William,Ebba,Hugo,Alice,Liam,Wilma,Noah,Elsa,Oscar,'
                             'Astrid,Lucas,Saga,Adam,Ella,Ali,Freja,Leo,Selma,Omar,Agnes,Nils}'::text[])
                            [(st.s - 1) % 24 + 1] AS first_name,
                            ('{Andersson,Johansson,Karlsson,Nilsson,Eriksson,Larsson,Olsson,Persson,'
                             'Svensson,Gustafsson,Pettersson,Jonsson,Jansson,Hansson,Bengtsson,Jönsson,'
                             'Lindberg,Jakobsson,Magnusson,Lindström,Olofsson,Lindqvist,Lindgren,Berg,'
                             'Axelsson,Bergström,Lundberg,Lind,Lundgren,Mohammed}'::text[])
                            [(st.s * 7) % 30 + 1] AS last_name) n
 WHERE m.candidate = 1 OR e % 4 = 0
ON CONFLICT (essay_id, student_id) DO NOTHING;
