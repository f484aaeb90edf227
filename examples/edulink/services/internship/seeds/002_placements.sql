-- Placements of the 16 accepted applications (the application seeds' formula: student u,
-- choice k, accepted when (7u+3k) mod 12 is 8 or 9): completed and scored for the filled
-- opportunity (15), running for the closed ones, scheduled for January for the open ones;
-- student 47's was terminated when she left. Then the logbooks of running and completed placements.

INSERT INTO internships_placement (id, opportunity_id, application_id, student_user_id,
                                   supervisor_user_id, start_date, end_date, status, final_score,
                                   terminated_reason, created_at, updated_at)
SELECT md5('edulink:placement:' || a.u || ':' || a.k)::uuid,
       op.id,
       md5('edulink:application:' || a.u || ':' || a.k)::uuid,
       md5('edulink:user:' || a.u)::uuid,
       md5('edulink:user:' || CASE WHEN a.o % 2 = 0 THEN 60 ELSE 59 END)::uuid,
       op.start_date, op.end_date,
       st.status,
       CASE WHEN st.status = 'completed' THEN 62 + (a.u * 17) % 36 END,
       CASE WHEN st.status = 'terminated' THEN 'Student left the programme and closed her account' END,
       op.start_date - interval '3 weeks', op.start_date - interval '3 weeks'
  FROM (SELECT u, k, CASE k WHEN 1 THEN (3 * u) % 18 + 1 ELSE (7 * u + 5) % 18 + 1 END AS o
          FROM generate_series(1, 48) u CROSS JOIN generate_series(1, 2) k
         WHERE (7 * u + 3 * k) % 12 IN (8, 9)) a
  JOIN internships_opportunity op ON op.id = md5('edulink:opportunity:' || a.o)::uuid
 CROSS JOIN LATERAL (SELECT CASE WHEN op.status = 'filled' THEN 'completed'
                                 WHEN op.status = 'closed' AND a.u = 47 THEN 'terminated'
                                 WHEN op.status = 'closed' THEN 'active'
                                 ELSE 'scheduled' END AS status) st
ON CONFLICT (application_id) DO NOTHING;

-- Weekday entries from the start to 21 November 2025 (or the end); supervisors approve a
-- week's entries on the following Monday.
INSERT INTO internships_logbookentry (placement_id, entry_date, hours_worked, activities,
                                      skills_practised, supervisor_approved_at, supervisor_comment,
                                      created_at)
SELECT p.id, d::date,
       7 + (extract(doy FROM d)::int % 3) * 0.5,
       (ARRAY['Shadowed a senior engineer on incident triage and wrote up the post-mortem.',
              'Wrote unit tests for the reconciliation module and fixed two failing cases.',
              'Attended the weekly planning meeting; estimated and picked up two tickets.',
              'Updated the equipment inventory and documented the maintenance schedule.',
              'Prepared a data extract and a short report for the team lead.'])[extract(isodow FROM d)::int],
       (ARRAY['{communication}', '{testing,python}', '{planning}', '{documentation}', '{excel,reporting}'])
           [extract(isodow FROM d)::int]::text[],
       CASE WHEN d < DATE '2025-11-17' THEN date_trunc('week', d) + interval '7 days 10 hours' END,
       CASE WHEN d < DATE '2025-11-17' AND extract(isodow FROM d) = 5 THEN 'Good week.' END,
       d + interval '17 hours'
  FROM internships_placement p
 CROSS JOIN LATERAL generate_series(p.start_date, least(p.end_date, DATE '2025-11-21'), interval '1 day') d
 WHERE p.status IN ('active', 'completed')
   AND extract(isodow FROM d) < 6
ON CONFLICT (placement_id, entry_date) DO NOTHING;
