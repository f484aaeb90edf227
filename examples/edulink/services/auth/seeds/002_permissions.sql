-- Permissions, what each role may do, and two grants to single users.
INSERT INTO authentication_permission (codename, name, created_at)
SELECT codename, name, timestamptz '2025-07-01 00:00+03'
  FROM (VALUES
        ('applications.submit_application', 'Submit an application'),
        ('applications.review_application', 'Review applications to own opportunities'),
        ('applications.approve_placement', 'Approve a student''s placement for the institution'),
        ('internships.post_opportunity', 'Post and edit internship opportunities'),
        ('internships.write_logbook', 'Write logbook entries'),
        ('internships.approve_logbook', 'Approve logbook entries of supervised students'),
        ('institutions.manage_programs', 'Manage the institution''s departments and programmes'),
        ('institutions.verify_students', 'Verify that a student belongs to the institution'),
        ('profiles.view_candidates', 'Search student profiles'),
        ('notifications.send_bulk', 'Send a notification to many users'),
        ('audit.view_log', 'Read the audit log'),
        ('users.manage_users', 'Activate, deactivate and unlock accounts')
       ) AS p (codename, name)
ON CONFLICT (codename) DO NOTHING;

INSERT INTO authentication_rolepermission (role, permission_id)
SELECT r.role, p.id
  FROM (VALUES
        ('student', 'applications.submit_application'),
        ('student', 'internships.write_logbook'),
        ('employer', 'applications.review_application'),
        ('employer', 'internships.post_opportunity'),
        ('employer', 'profiles.view_candidates'),
        ('supervisor', 'internships.approve_logbook'),
        ('supervisor', 'applications.review_application'),
        ('institution_admin', 'applications.approve_placement'),
        ('institution_admin', 'institutions.manage_programs'),
        ('institution_admin', 'institutions.verify_students'),
        ('institution_admin', 'internships.post_opportunity'),
        ('institution_admin', 'notifications.send_bulk'),
        ('system_admin', 'audit.view_log'),
        ('system_admin', 'users.manage_users'),
        ('system_admin', 'notifications.send_bulk')
       ) AS r (role, codename)
  JOIN authentication_permission p ON p.codename = r.codename
ON CONFLICT (role, permission_id) DO NOTHING;

-- Strathmore's administrator may read the audit log (accreditation review); a Safaricom
-- supervisor may post opportunities for her team.
INSERT INTO authentication_user_permissions (user_id, permission_id, granted_by, granted_at)
SELECT md5('edulink:user:' || g.u)::uuid, p.id, md5('edulink:user:61')::uuid, timestamptz '2025-09-01 10:00+03'
  FROM (VALUES (57, 'audit.view_log'), (59, 'internships.post_opportunity')) AS g (u, codename)
  JOIN authentication_permission p ON p.codename = g.codename
ON CONFLICT (user_id, permission_id) DO NOTHING;
