-- Message templates (version 1 of each), in English and, for the welcome, Swahili.
-- Re-runnable: unique (code, channel, locale, version).
INSERT INTO notifications_notificationtemplate (code, channel, locale, version, subject_template,
                                                body_template, created_at, updated_at)
SELECT code, channel, locale, 1, subject, body, timestamptz '2025-07-01 09:00+03', timestamptz '2025-07-01 09:00+03'
  FROM (VALUES
        ('welcome', 'email', 'en', 'Welcome to Edulink, {{first_name}}',
         'Hi {{first_name}}, your Edulink account is ready. Complete your profile to start applying for attachments.'),
        ('welcome', 'email', 'sw', 'Karibu Edulink, {{first_name}}',
         'Habari {{first_name}}, akaunti yako ya Edulink iko tayari. Kamilisha wasifu wako ili kuanza kutuma maombi.'),
        ('welcome', 'in_app', 'en', NULL, 'Welcome to Edulink! Start by completing your profile.'),
        ('application_submitted', 'email', 'en', 'We received your application: {{opportunity_title}}',
         'Your application to {{employer_name}} for {{opportunity_title}} was submitted. We will let you know when it is reviewed.'),
        ('application_status_changed', 'in_app', 'en', NULL,
         'Your application for {{opportunity_title}} is now {{status_label}}.'),
        ('application_status_changed', 'sms', 'en', NULL,
         'Edulink: your application for {{opportunity_title}} is now {{status_label}}. Log in for details.'),
        ('new_application_received', 'in_app', 'en', NULL,
         '{{applicant_name}} applied for {{opportunity_title}}.'),
        ('new_application_received', 'email', 'en', 'New application: {{opportunity_title}}',
         '{{applicant_name}} applied for {{opportunity_title}}. Review the application on Edulink.'),
        ('placement_confirmed', 'email', 'en', 'Your attachment at {{employer_name}} is confirmed',
         'Congratulations! Your attachment starts on {{start_date}}. Your supervisor is {{supervisor_name}}.'),
        ('placement_confirmed', 'sms', 'en', NULL,
         'Edulink: your attachment at {{employer_name}} starts {{start_date}}. Congratulations!'),
        ('logbook_reminder', 'push', 'en', NULL, 'Don''t forget today''s logbook entry.'),
        ('account_locked', 'email', 'en', 'Your Edulink account was locked',
         'We locked your account after several failed sign-in attempts. It unlocks at {{locked_until}}, or reset your password now.'),
        ('password_reset', 'email', 'en', 'Reset your Edulink password',
         'Use this link within 30 minutes to choose a new password: {{reset_link}}')
       ) AS t (code, channel, locale, subject, body)
ON CONFLICT (code, channel, locale, version) DO NOTHING;
