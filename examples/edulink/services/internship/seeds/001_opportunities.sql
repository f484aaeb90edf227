-- 20 opportunities from the six employers of the auth seeds (users 49–54) and one from the
-- University of Nairobi's attachment office (user 55). Ids are md5('edulink:opportunity:<o>').
-- 1–14 are open for the January intake, 15 filled last quarter, 16–18 closed (placements
-- running), 19 a draft, 20 cancelled. Re-runnable: ON CONFLICT DO NOTHING on the id.

INSERT INTO internships_opportunity (id, posted_by_user_id, employer_name, institution_id, title,
                                     description, location, work_mode, stipend_amount, slots,
                                     required_skills, application_deadline, start_date, end_date,
                                     status, published_at, created_at, updated_at)
SELECT md5('edulink:opportunity:' || o.n)::uuid,
       md5('edulink:user:' || CASE WHEN o.n = 13 THEN 55 ELSE 48 + (o.n - 1) % 6 + 1 END)::uuid,
       CASE WHEN o.n = 13 THEN 'University of Nairobi ICT Centre'
            ELSE (ARRAY['Safaricom PLC', 'Equity Bank Kenya', 'KenGen', 'Andela Kenya', 'Twiga Foods',
                        'Kenya Airways'])[(o.n - 1) % 6 + 1] END,
       CASE WHEN o.n = 13 THEN md5('edulink:institution:1')::uuid END,
       o.title,
       o.title || ' attachment: you will work in a team on real projects under a named supervisor, '
           || 'keep a daily logbook and present your work at the end of the attachment. '
           || 'Open to students of accredited Kenyan institutions in their final two years.',
       o.location, o.mode, o.stipend, o.slots, o.skills::text[],
       d.deadline, d.start_date, d.start_date + interval '12 weeks' - interval '3 days',
       o.status,
       CASE WHEN o.status <> 'draft' THEN d.deadline - interval '45 days' END,
       d.deadline - interval '50 days',
       d.deadline - interval '50 days'
  FROM (VALUES
        (1,  'Software Engineering Intern (M-PESA APIs)', 'Nairobi', 'hybrid', 25000, 6, '{python,git,postgresql}', 'open'),
        (2,  'Credit Risk Analyst Intern', 'Nairobi', 'onsite', 20000, 4, '{excel,financial_analysis}', 'open'),
        (3,  'Electrical Engineering Attachee, Olkaria', 'Naivasha', 'onsite', 15000, 8, '{autocad,plc}', 'open'),
        (4,  'Backend Developer Apprentice', 'Remote (Kenya)', 'remote', 30000, 5, '{python,django}', 'open'),
        (5,  'Supply Chain Data Intern', 'Nairobi', 'hybrid', 18000, 3, '{excel,postgresql}', 'open'),
        (6,  'Aircraft Maintenance Systems Attachee', 'Embakasi, Nairobi', 'onsite', 15000, 4, '{matlab,circuit_design}', 'open'),
        (7,  'Network Operations Centre Intern', 'Nairobi', 'onsite', 20000, 6, '{networking,linux}', 'open'),
        (8,  'Branch Operations Intern', 'Eldoret', 'onsite', 12000, 10, '{accounting}', 'open'),
        (9,  'SCADA and Substation Attachee', 'Embu', 'onsite', 15000, 4, '{plc,circuit_design}', 'open'),
        (10, 'Frontend Engineering Intern', 'Remote (Kenya)', 'remote', 28000, 4, '{git}', 'open'),
        (11, 'Finance and Accounts Attachee', 'Nairobi', 'hybrid', 15000, 3, '{accounting,quickbooks}', 'open'),
        (12, 'IT Support Attachee (Airport Systems)', 'Embakasi, Nairobi', 'onsite', 12000, 5, '{technical_support,windows_server}', 'open'),
        (13, 'ICT Centre Systems Attachee', 'Nairobi', 'onsite', 8000, 10, '{linux,networking}', 'open'),
        (14, 'Digital Banking QA Intern', 'Nairobi', 'hybrid', 20000, 3, '{python}', 'open'),
        (15, 'Data Analytics Intern', 'Nairobi', 'hybrid', 25000, 4, '{python,postgresql}', 'filled'),
        (16, 'Power Plant Instrumentation Attachee', 'Naivasha', 'onsite', 15000, 6, '{plc,matlab}', 'closed'),
        (17, 'Mobile Developer Apprentice', 'Remote (Kenya)', 'remote', 30000, 4, '{git,django}', 'closed'),
        (18, 'Agri-logistics Operations Intern', 'Nairobi', 'onsite', 15000, 4, '{excel}', 'closed'),
        (19, 'Cybersecurity Analyst Intern', 'Nairobi', 'hybrid', 25000, 2, '{linux,networking}', 'draft'),
        (20, 'Customer Experience Intern', 'Mombasa', 'onsite', 10000, 6, '{}', 'cancelled')
       ) AS o (n, title, location, mode, stipend, slots, skills, status)
 CROSS JOIN LATERAL (SELECT
        CASE WHEN o.n = 15 THEN DATE '2025-06-13'
             WHEN o.n BETWEEN 16 AND 18 THEN DATE '2025-09-15'
             ELSE DATE '2025-12-10' + o.n END AS deadline,
        CASE WHEN o.n = 15 THEN DATE '2025-07-07'
             WHEN o.n BETWEEN 16 AND 18 THEN DATE '2025-10-06'
             ELSE DATE '2026-01-12' END AS start_date) d
ON CONFLICT (id) DO NOTHING;
