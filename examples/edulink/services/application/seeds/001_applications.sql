-- Every student of the seeds (users 1–48) applies to two opportunities (1–18), and each
-- application is walked through the workflow to where it stands, one transition at a time,
-- with the acting role and user set as the service sets them per request: the triggers check
-- every step against applications_workflowtransition and write applications_statushistory.
--
-- Application (student u, choice k): id md5('edulink:application:<u>:<k>'), opportunity
-- (3u mod 18)+1 for k = 1 and (7u+5 mod 18)+1 for k = 2, final status by (7u+3k) mod 12:
-- 0 draft, 1–2 submitted, 3–4 under_review, 5 shortlisted, 6 interview_scheduled, 7 offered,
-- 8–9 accepted, 10 rejected, 11 withdrawn. Re-runnable: inserts ON CONFLICT DO NOTHING, and an
-- application at its target status does not move.

-- Students create their drafts themselves (the insert trigger records the acting role).
SELECT set_config('app.actor_role', 'applicant', true);

INSERT INTO applications_application (id, user_profile_id, applicant_user_id, opportunity_id,
                                      institution_id, program_id, status, cover_letter,
                                      available_from, created_at, updated_at)
SELECT md5('edulink:application:' || u || ':' || k)::uuid,
       md5('edulink:profile:' || u)::uuid,
       md5('edulink:user:' || u)::uuid,
       md5('edulink:opportunity:' || o)::uuid,
       md5('edulink:institution:' || ((u - 1) % 6 + 1))::uuid,
       md5('edulink:program:' || ((u - 1) % 6 + 1) || ':' || ((u - 1) / 6 % 4 + 1))::uuid,
       'draft',
       'Dear hiring team, I am a student looking for an attachment where I can apply what I have '
           || 'learnt in class to real work. Your opportunity matches my skills and my career plans, '
           || 'and I am available for the whole period.',
       DATE '2026-01-05',
       created, created
  FROM generate_series(1, 48) u
 CROSS JOIN generate_series(1, 2) k
 CROSS JOIN LATERAL (SELECT CASE k WHEN 1 THEN (3 * u) % 18 + 1 ELSE (7 * u + 5) % 18 + 1 END AS o) oo
 CROSS JOIN LATERAL (SELECT CASE WHEN o = 15 THEN timestamptz '2025-05-20 10:00+03'
                                 WHEN o BETWEEN 16 AND 18 THEN timestamptz '2025-08-10 10:00+03'
                                 ELSE timestamptz '2025-10-25 10:00+03' END
                            + (u * 5 + k) * interval '1 hour' AS created) c
ON CONFLICT (id) DO NOTHING;

DO $$
DECLARE
    r        record;
    path     application_status[];
    actors   text[];
    pos      integer;
BEGIN
    FOR r IN
        SELECT a.id, a.status, a.created_at, u, k,
               md5('edulink:user:' || u)::uuid AS student,
               md5('edulink:user:' || CASE WHEN o = 13 THEN 55 ELSE 48 + (o - 1) % 6 + 1 END)::uuid AS employer,
               (7 * u + 3 * k) % 12 AS h
          FROM generate_series(1, 48) u
         CROSS JOIN generate_series(1, 2) k
         CROSS JOIN LATERAL (SELECT CASE k WHEN 1 THEN (3 * u) % 18 + 1 ELSE (7 * u + 5) % 18 + 1 END AS o) oo
          JOIN applications_application a ON a.id = md5('edulink:application:' || u || ':' || k)::uuid
    LOOP
        path := CASE
            WHEN r.h = 0 THEN '{draft}'
            WHEN r.h IN (1, 2) THEN '{draft,submitted}'
            WHEN r.h IN (3, 4) THEN '{draft,submitted,under_review}'
            WHEN r.h = 5 THEN '{draft,submitted,under_review,shortlisted}'
            WHEN r.h = 6 THEN '{draft,submitted,under_review,shortlisted,interview_scheduled}'
            WHEN r.h = 7 THEN '{draft,submitted,under_review,shortlisted,interview_scheduled,offered}'
            WHEN r.h IN (8, 9) THEN '{draft,submitted,under_review,shortlisted,interview_scheduled,offered,accepted}'
            WHEN r.h = 10 THEN '{draft,submitted,under_review,rejected}'
            ELSE '{draft,submitted,withdrawn}'
        END::application_status[];
        pos := array_position(path, r.status);
        WHILE pos IS NOT NULL AND pos < array_length(path, 1) LOOP
            pos := pos + 1;
            -- Applicants submit, accept and withdraw; the employer does the rest.
            IF path[pos] IN ('submitted', 'accepted', 'withdrawn') THEN
                PERFORM set_config('app.actor_role', 'applicant', true),
                        set_config('app.current_user_id', r.student::text, true);
            ELSE
                PERFORM set_config('app.actor_role', 'employer', true),
                        set_config('app.current_user_id', r.employer::text, true);
            END IF;
            PERFORM set_config('app.transition_note',
                               CASE path[pos] WHEN 'withdrawn' THEN 'Accepted another offer'
                                              WHEN 'rejected' THEN 'Profile does not match the required skills'
                                              ELSE '' END, true);
            UPDATE applications_application
               SET status = path[pos],
                   withdrawn_reason = CASE WHEN path[pos] = 'withdrawn' THEN 'Accepted another offer' END,
                   updated_at = r.created_at + (pos - 1) * interval '2 days'
             WHERE id = r.id;
        END LOOP;
    END LOOP;
    PERFORM set_config('app.actor_role', '', true),
            set_config('app.current_user_id', '', true),
            set_config('app.transition_note', '', true);
END;
$$;
