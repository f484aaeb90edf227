-- 61 accounts: 48 students (8 per institution), 6 employers, 4 institution administrators,
-- 2 employer supervisors and a platform administrator. Ids are md5('edulink:user:<n>')::uuid,
-- shared by every service's seeds (see examples/edulink/README.md).
-- Re-runnable: ON CONFLICT DO NOTHING on the primary key.

INSERT INTO authentication_user (id, email, password, role, is_active, is_staff, is_superuser,
                                 email_verified_at, last_login, date_joined, updated_at)
SELECT md5('edulink:user:' || u)::uuid,
       CASE
           WHEN u <= 48 THEN lower(f.first_name || '.' || l.last_name || u) || '@students.'
                              || (ARRAY['uonbi.ac.ke', 'ku.ac.ke', 'strathmore.edu', 'tukenya.ac.ke',
                                        'mu.ac.ke', 'ntti.ac.ke'])[(u - 1) % 6 + 1]
           WHEN u <= 54 THEN 'careers@' || (ARRAY['safaricom.co.ke', 'equitybank.co.ke', 'kengen.co.ke',
                                                  'andela.com', 'twiga.com', 'kenya-airways.com'])[u - 48]
           WHEN u <= 58 THEN 'attachments@' || (ARRAY['uonbi.ac.ke', 'ku.ac.ke', 'strathmore.edu',
                                                      'tukenya.ac.ke'])[u - 54]
           WHEN u <= 60 THEN lower(f.first_name || '.' || l.last_name) || '@' ||
                             (ARRAY['safaricom.co.ke', 'equitybank.co.ke'])[u - 58]
           ELSE 'platform-admin@edulink.co.ke'
       END,
       'pbkdf2_sha256$720000$' || substr(md5('edulink:salt:' || u), 1, 22) || '$'
           || encode(sha256(convert_to('edulink:password:' || u, 'UTF8')), 'base64'),
       CASE WHEN u <= 48 THEN 'student' WHEN u <= 54 THEN 'employer' WHEN u <= 58 THEN 'institution_admin'
            WHEN u <= 60 THEN 'supervisor' ELSE 'system_admin' END,
       u <> 47,                                     -- one student deactivated her account
       u = 61, u = 61,
       CASE WHEN u % 9 <> 0 THEN joined + interval '20 minutes' END,
       CASE WHEN u % 4 <> 0 THEN timestamptz '2025-11-20 08:00+03' + u * interval '37 minutes' END,
       joined, joined
  FROM generate_series(1, 61) u
 CROSS JOIN LATERAL (SELECT timestamptz '2025-08-01 09:00+03' + u * interval '9 hours' AS joined) j
 CROSS JOIN LATERAL (SELECT ('{Wanjiru,Kamau,Achieng,Otieno,Njeri,Mwangi,Akinyi,Kiprop,Wambui,Omondi,'
                             'Chebet,Mutua,Nyambura,Kipchoge,Atieno,Karanja,Jepkosgei,Odhiambo,Muthoni,Kibet}'::text[])
                            [(u - 1) % 20 + 1] AS first_name) f
 CROSS JOIN LATERAL (SELECT ('{Kariuki,Ochieng,Wekesa,Njoroge,Mutai,Owino,Gitau,Koech,Maina,Onyango,'
                             'Rotich,Macharia,Nduta,Kimani,Langat,Were,Githinji,Cheruiyot,Oduya,Ngugi,'
                             'Kiplagat,Mbugua,Auma,Waweru}'::text[])
                            [(u * 7) % 24 + 1] AS last_name) l
ON CONFLICT (id) DO NOTHING;

-- Brute force against one student: five failures, account locked until a fixed time.
UPDATE authentication_user
   SET failed_login_count = 5,
       locked_until = timestamptz '2025-11-21 10:15+03',
       updated_at = timestamptz '2025-11-21 09:45+03'
 WHERE id = md5('edulink:user:17')::uuid
   AND failed_login_count = 0;
