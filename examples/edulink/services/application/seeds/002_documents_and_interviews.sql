-- A CV and a transcript with every submitted application (and a recommendation letter for
-- some), and an interview for every application that got that far.

INSERT INTO applications_document (id, application_id, document_type, file_name, storage_key,
                                   content_type, size_bytes, uploaded_at)
SELECT md5('edulink:document:' || a.id || ':' || d.document_type)::uuid,
       a.id, d.document_type, d.file_name,
       'applications/' || a.id || '/' || md5('edulink:document:' || a.id || ':' || d.document_type) || '.pdf',
       'application/pdf',
       d.base_size + ('x' || substr(md5(a.id::text || d.document_type), 1, 4))::bit(16)::int,
       a.submitted_at - interval '1 hour'
  FROM applications_application a
 CROSS JOIN (VALUES ('cv', 'CV.pdf', 90000), ('transcript', 'Academic_Transcript.pdf', 240000),
                    ('recommendation', 'Recommendation_Letter.pdf', 60000)) AS d (document_type, file_name, base_size)
 WHERE a.status <> 'draft'
   AND (d.document_type <> 'recommendation' OR get_byte(decode(md5(a.id::text), 'hex'), 0) % 3 = 0)
ON CONFLICT (application_id, document_type, file_name) DO NOTHING;

INSERT INTO applications_interview (id, application_id, round, scheduled_at, duration_minutes, mode,
                                    location_or_link, interviewer_user_id, outcome, notes,
                                    created_at, updated_at)
SELECT md5('edulink:interview:' || a.id)::uuid,
       a.id, 1,
       h.changed_at + interval '3 days' + interval '9 hours',
       45,
       CASE WHEN get_byte(decode(md5(a.id::text), 'hex'), 1) % 2 = 0 THEN 'video' ELSE 'in_person' END,
       CASE WHEN get_byte(decode(md5(a.id::text), 'hex'), 1) % 2 = 0
            THEN 'https://meet.google.com/' || substr(md5(a.id::text), 1, 3) || '-' || substr(md5(a.id::text), 4, 4)
            ELSE 'Reception, main office' END,
       h.changed_by,
       CASE WHEN a.status = 'interview_scheduled' THEN 'pending' ELSE 'passed' END,
       CASE WHEN a.status <> 'interview_scheduled' THEN 'Strong fundamentals, good communication.' END,
       h.changed_at, h.changed_at
  FROM applications_application a
  JOIN applications_statushistory h ON h.application_id = a.id AND h.to_status = 'interview_scheduled'
ON CONFLICT (id) DO NOTHING;
