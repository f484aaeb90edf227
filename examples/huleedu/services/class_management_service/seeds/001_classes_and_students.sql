-- Three teachers, six classes of 24 students (see examples/huleedu/README.md for the ids).
-- Re-runnable: ON CONFLICT DO NOTHING on primary keys.

INSERT INTO classes (id, created_by_user_id, org_id, class_designation, course_code, school_year,
                     created_at, updated_at)
SELECT md5('huleedu:class:' || c.n)::uuid,
       md5('huleedu:user:' || ((c.n - 1) / 2 + 1))::uuid,
       md5('huleedu:org:1')::uuid,
       c.designation, c.course::course_code, 2025,
       timestamptz '2025-08-18 09:00+00' + c.n * interval '1 hour',
       timestamptz '2025-08-18 09:00+00' + c.n * interval '1 hour'
  FROM (VALUES (1, '9A', 'ENG5'), (2, '9B', 'ENG5'), (3, 'NA24a', 'ENG6'),
               (4, 'SA24b', 'ENG6'), (5, 'TE25a', 'SV1'), (6, 'EK25b', 'SV1')) AS c (n, designation, course)
ON CONFLICT (id) DO NOTHING;

INSERT INTO students (id, created_by_user_id, first_name, last_name, legal_full_name, email,
                      created_at, updated_at)
SELECT md5('huleedu:student:' || s)::uuid,
       md5('huleedu:user:' || (((s - 1) / 24) / 2 + 1))::uuid,
       f.first_name, l.last_name,
       f.first_name || ' ' || l.last_name,
       CASE WHEN s % 11 = 0 THEN NULL   -- some students have no school e-mail yet
            ELSE translate(lower(f.first_name || '.' || l.last_name), 'åäöé', 'aaoe') || s || '@elev.huleedu.se'
       END,
       timestamptz '2025-08-18 10:00+00' + s * interval '1 minute',
       timestamptz '2025-08-18 10:00+00' + s * interval '1 minute'
  FROM generate_series(1, 144) s
 CROSS JOIN LATERAL (SELECT ('{Alva,Elias,Maja,William,Ebba,Hugo,Alice,Liam,Wilma,Noah,Elsa,Oscar,'
                             'Astrid,Lucas,Saga,Adam,Ella,Ali,Freja,Leo,Selma,Omar,Agnes,Nils}'::text[])
                            [(s - 1) % 24 + 1] AS first_name) f
 CROSS JOIN LATERAL (SELECT ('{Andersson,Johansson,Karlsson,Nilsson,Eriksson,Larsson,Olsson,Persson,'
                             'Svensson,Gustafsson,Pettersson,Jonsson,Jansson,Hansson,Bengtsson,Jönsson,'
                             'Lindberg,Jakobsson,Magnusson,Lindström,Olofsson,Lindqvist,Lindgren,Berg,'
                             'Axelsson,Bergström,Lundberg,Lind,Lundgren,Mohammed}'::text[])
                            [(s * 7) % 30 + 1] AS last_name) l
ON CONFLICT (id) DO NOTHING;

-- Everyone enrolled in their class; two left during the term.
INSERT INTO class_students (class_id, student_id, status, enrolled_at, left_at)
SELECT md5('huleedu:class:' || ((s - 1) / 24 + 1))::uuid,
       md5('huleedu:student:' || s)::uuid,
       CASE s WHEN 71 THEN 'withdrawn' WHEN 118 THEN 'transferred' ELSE 'active' END::enrolment_status,
       timestamptz '2025-08-19 08:00+00',
       CASE WHEN s IN (71, 118) THEN timestamptz '2025-10-03 12:00+00' END
  FROM generate_series(1, 144) s
ON CONFLICT (class_id, student_id) DO NOTHING;
