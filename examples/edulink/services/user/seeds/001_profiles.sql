-- A profile for each of the 61 accounts of the auth seeds (same names), student and employer
-- details, and preferences. Profile ids are md5('edulink:profile:<n>'). Runs as the owner,
-- whose row level security policy sees every row. Re-runnable.

INSERT INTO profiles_userprofile (id, user_id, profile_type, first_name, last_name, phone_number,
                                  date_of_birth, bio, avatar_url, institution_id, is_profile_complete,
                                  visibility, created_at, updated_at)
SELECT md5('edulink:profile:' || u)::uuid,
       md5('edulink:user:' || u)::uuid,
       CASE WHEN u <= 48 THEN 'student' WHEN u <= 54 THEN 'employer' WHEN u <= 58 THEN 'institution_admin'
            WHEN u <= 60 THEN 'supervisor' ELSE 'system_admin' END,
       CASE WHEN u BETWEEN 49 AND 58 THEN 'Careers' WHEN u = 61 THEN 'Platform' ELSE f.first_name END,
       CASE WHEN u BETWEEN 49 AND 54 THEN 'Desk' WHEN u BETWEEN 55 AND 58 THEN 'Office'
            WHEN u = 61 THEN 'Administrator' ELSE l.last_name END,
       CASE WHEN u % 7 <> 0 THEN '+2547' || lpad(((u * 7919) % 100000000)::text, 8, '0') END,
       CASE WHEN u <= 48 THEN DATE '2001-01-15' + (u * 53) % 1500 END,
       CASE WHEN u <= 48 AND u % 5 <> 0
            THEN 'Student looking for an industrial attachment. Interested in '
                 || (ARRAY['software engineering', 'finance', 'power systems', 'IT support'])[(u - 1) / 6 % 4 + 1] || '.'
       END,
       CASE WHEN u % 3 = 0 THEN 'https://cdn.edulink.co.ke/avatars/' || md5('edulink:avatar:' || u) || '.jpg' END,
       CASE WHEN u <= 48 THEN md5('edulink:institution:' || ((u - 1) % 6 + 1))::uuid
            WHEN u BETWEEN 55 AND 58 THEN md5('edulink:institution:' || (u - 54))::uuid END,
       u % 5 <> 0,
       CASE WHEN u <= 48 AND u % 5 <> 0 THEN 'public' WHEN u % 11 = 0 THEN 'private' ELSE 'institution' END,
       joined, joined + interval '1 day'
  FROM generate_series(1, 61) u
 CROSS JOIN LATERAL (SELECT timestamptz '2025-08-01 09:30+03' + u * interval '9 hours' AS joined) j
 CROSS JOIN LATERAL (SELECT ('{Wanjiru,Kamau,Achieng,Otieno,Njeri,Mwangi,Akinyi,Kiprop,Wambui,Omondi,'
                             'Chebet,Mutua,Nyambura,Kipchoge,Atieno,Karanja,Jepkosgei,Odhiambo,Muthoni,Kibet}'::text[])
                            [(u - 1) % 20 + 1] AS first_name) f
 CROSS JOIN LATERAL (SELECT ('{Kariuki,Ochieng,Wekesa,Njoroge,Mutai,Owino,Gitau,Koech,Maina,Onyango,'
                             'Rotich,Macharia,Nduta,Kimani,Langat,Were,Githinji,Cheruiyot,Oduya,Ngugi,'
                             'Kiplagat,Mbugua,Auma,Waweru}'::text[])
                            [(u * 7) % 24 + 1] AS last_name) l
ON CONFLICT (id) DO NOTHING;

INSERT INTO profiles_studentprofile (profile_id, registration_number, program_id, year_of_study, gpa,
                                     expected_graduation, skills, cv_storage_key, updated_at)
SELECT md5('edulink:profile:' || u)::uuid,
       (ARRAY['P15', 'J17', 'SU', 'SCII', 'CS', 'NTTI'])[i] || '/' || lpad((u * 37)::text, 4, '0') || '/' || (2026 - yr),
       md5('edulink:program:' || i || ':' || p)::uuid,
       yr,
       round(2.1 + (u * 13 % 19) / 10.0, 2),
       make_date(2026 + (CASE p WHEN 3 THEN 5 WHEN 4 THEN 2 ELSE 4 END) - yr, 11, 30),
       (CASE p WHEN 1 THEN ARRAY['python', 'django', 'postgresql', 'git']
               WHEN 2 THEN ARRAY['excel', 'accounting', 'financial_analysis', 'quickbooks']
               WHEN 3 THEN ARRAY['autocad', 'plc', 'circuit_design', 'matlab']
               ELSE ARRAY['networking', 'linux', 'technical_support', 'windows_server'] END)[1:2 + u % 3],
       CASE WHEN u % 5 <> 0 THEN 'cv/' || md5('edulink:cv:' || u) || '.pdf' END,
       timestamptz '2025-08-05 10:00+03' + u * interval '9 hours'
  FROM generate_series(1, 48) u
 CROSS JOIN LATERAL (SELECT (u - 1) % 6 + 1 AS i, (u - 1) / 6 % 4 + 1 AS p) ip
 CROSS JOIN LATERAL (SELECT CASE WHEN ip.p = 4 OR ip.i = 6 THEN 2 ELSE 2 + u % 3 END AS yr) y
ON CONFLICT (profile_id) DO NOTHING;

INSERT INTO profiles_employerprofile (profile_id, company_name, industry, company_size, website, kra_pin,
                                      is_verified, updated_at)
SELECT md5('edulink:profile:' || (48 + n))::uuid, company, industry, size, 'https://www.' || domain,
       'P05' || lpad((n * 1234567 % 10000000)::text, 7, '0') || chr(64 + n), n <> 5,
       timestamptz '2025-08-20 10:00+03'
  FROM (VALUES (1, 'Safaricom PLC', 'Telecommunications', '1000+', 'safaricom.co.ke'),
               (2, 'Equity Bank Kenya', 'Banking', '1000+', 'equitybank.co.ke'),
               (3, 'Kenya Electricity Generating Company (KenGen)', 'Energy', '1000+', 'kengen.co.ke'),
               (4, 'Andela Kenya', 'Software', '201-1000', 'andela.com'),
               (5, 'Twiga Foods', 'Agritech', '201-1000', 'twiga.com'),
               (6, 'Kenya Airways', 'Aviation', '1000+', 'kenya-airways.com')) AS e (n, company, industry, size, domain)
ON CONFLICT (profile_id) DO NOTHING;

INSERT INTO profiles_userpreference (profile_id, language, timezone, theme, email_digest, updated_at)
SELECT md5('edulink:profile:' || u)::uuid,
       CASE WHEN u % 6 = 0 THEN 'sw' ELSE 'en' END,
       'Africa/Nairobi',
       (ARRAY['system', 'dark', 'light'])[u % 3 + 1],
       (ARRAY['weekly', 'daily', 'never', 'weekly'])[u % 4 + 1],
       timestamptz '2025-08-02 10:00+03' + u * interval '9 hours'
  FROM generate_series(1, 61) u
ON CONFLICT (profile_id) DO NOTHING;
