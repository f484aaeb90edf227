-- Six Kenyan institutions, three departments and four programmes each. Ids are
-- md5('edulink:institution:<i>') and md5('edulink:program:<i>:<p>'). Re-runnable.

INSERT INTO institutions_institution (id, name, short_name, slug, institution_type, country, county,
                                      website, email_domain, accreditation_status, is_verified,
                                      created_at, updated_at)
SELECT md5('edulink:institution:' || i)::uuid, name, short_name,
       trim(BOTH '-' FROM regexp_replace(lower(name), '[^a-z0-9]+', '-', 'g')),
       kind, 'KE', county, 'https://www.' || domain, domain, accreditation, accreditation = 'accredited',
       timestamptz '2025-07-15 09:00+03' + i * interval '1 day',
       timestamptz '2025-07-15 09:00+03' + i * interval '1 day'
  FROM (VALUES
        (1, 'University of Nairobi', 'UoN', 'university', 'Nairobi', 'uonbi.ac.ke', 'accredited'),
        (2, 'Kenyatta University', 'KU', 'university', 'Kiambu', 'ku.ac.ke', 'accredited'),
        (3, 'Strathmore University', 'SU', 'university', 'Nairobi', 'strathmore.edu', 'accredited'),
        (4, 'Technical University of Kenya', 'TUK', 'university', 'Nairobi', 'tukenya.ac.ke', 'accredited'),
        (5, 'Moi University', 'MU', 'university', 'Uasin Gishu', 'mu.ac.ke', 'accredited'),
        (6, 'Nairobi Technical Training Institute', 'NTTI', 'tvet', 'Nairobi', 'ntti.ac.ke', 'provisional')
       ) AS x (i, name, short_name, kind, county, domain, accreditation)
ON CONFLICT (id) DO NOTHING;

INSERT INTO institutions_department (id, institution_id, code, name, created_at)
SELECT md5('edulink:department:' || i || ':' || d.code)::uuid,
       md5('edulink:institution:' || i)::uuid,
       d.code, d.name, timestamptz '2025-07-20 09:00+03'
  FROM generate_series(1, 6) i
 CROSS JOIN (VALUES ('COMP', 'Computing and Informatics'),
                    ('BUS', 'Business and Economics'),
                    ('ENG', 'Electrical and Electronic Engineering')) AS d (code, name)
ON CONFLICT (id) DO NOTHING;

-- Universities: three degrees and a diploma; the TVET institute: diplomas and a certificate.
INSERT INTO institutions_program (id, institution_id, department_id, code, name, level,
                                  duration_years, requires_attachment, created_at, updated_at)
SELECT md5('edulink:program:' || i || ':' || p.n)::uuid,
       md5('edulink:institution:' || i)::uuid,
       md5('edulink:department:' || i || ':' || p.dept)::uuid,
       CASE WHEN i = 6 THEN p.tvet_code ELSE p.code END,
       CASE WHEN i = 6 THEN p.tvet_name ELSE p.name END,
       CASE WHEN i = 6 THEN p.tvet_level ELSE p.level END,
       CASE WHEN i = 6 THEN p.tvet_years ELSE p.years END,
       p.n <> 2 OR i = 6,
       timestamptz '2025-07-21 09:00+03', timestamptz '2025-07-21 09:00+03'
  FROM generate_series(1, 6) i
 CROSS JOIN (VALUES
        (1, 'COMP', 'BSC-CS',  'Bachelor of Science in Computer Science', 'bachelor', 4.0,
                    'DIP-ICT', 'Diploma in Information Communication Technology', 'diploma', 3.0),
        (2, 'BUS',  'BCOM',    'Bachelor of Commerce', 'bachelor', 4.0,
                    'DIP-BM',  'Diploma in Business Management', 'diploma', 2.0),
        (3, 'ENG',  'BSC-EEE', 'Bachelor of Science in Electrical and Electronic Engineering', 'bachelor', 5.0,
                    'DIP-EE',  'Diploma in Electrical Engineering (Power Option)', 'diploma', 3.0),
        (4, 'COMP', 'DIP-IT',  'Diploma in Information Technology', 'diploma', 2.0,
                    'CERT-CS', 'Certificate in Computer Studies', 'certificate', 1.0)
       ) AS p (n, dept, code, name, level, years, tvet_code, tvet_name, tvet_level, tvet_years)
ON CONFLICT (id) DO NOTHING;
