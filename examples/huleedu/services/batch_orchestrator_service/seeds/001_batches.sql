-- Eight batches of 20 essays, one per class (classes 1 and 2 have a second batch), in every
-- stage of the pipeline. Ids are derived from names (md5(...)::uuid) so that every service's
-- seeds refer to the same teachers, classes, batches and essays; see examples/huleedu/README.md.
-- Re-runnable: ON CONFLICT DO NOTHING on primary and natural keys.

INSERT INTO batches (id, correlation_id, user_id, org_id, class_id, course_code, language,
                     essay_instructions, expected_essay_count, status, requested_pipelines,
                     pipeline_configuration, created_at, updated_at, completed_at)
SELECT md5('huleedu:batch:' || b.n)::uuid,
       md5('huleedu:batch-correlation:' || b.n)::uuid,
       md5('huleedu:user:' || ((b.class - 1) / 2 + 1))::uuid,
       md5('huleedu:org:1')::uuid,
       md5('huleedu:class:' || b.class)::uuid,
       b.course_code,
       b.language,
       b.instructions,
       20,
       b.status::batch_status,
       b.pipelines::pipeline_phase[],
       jsonb_build_object('llm_model', 'claude-sonnet', 'cj_comparisons_per_essay', 8,
                          'spellcheck_l2_dictionary', b.language || '-2025.1'),
       timestamptz '2025-09-01 07:30+00' + (b.n - 1) * interval '4 days',
       timestamptz '2025-09-01 07:30+00' + (b.n - 1) * interval '4 days' + interval '2 hours',
       CASE WHEN b.status IN ('completed_successfully', 'completed_with_failures')
            THEN timestamptz '2025-09-01 07:30+00' + (b.n - 1) * interval '4 days' + interval '2 hours'
       END
  FROM (VALUES
        (1, 1, 'ENG5', 'en', 'Argumentative essay: should homework be abolished?', 'completed_successfully',  '{spellcheck,nlp,cj_assessment}'),
        (2, 2, 'ENG5', 'en', 'Describe a place that matters to you.',               'completed_successfully',  '{spellcheck,nlp,cj_assessment}'),
        (3, 3, 'ENG6', 'en', 'Analyse the narrator in "The Tell-Tale Heart".',      'completed_with_failures', '{spellcheck,nlp}'),
        (4, 4, 'ENG6', 'en', 'Compare two news reports of the same event.',         'processing_pipelines',    '{spellcheck,nlp,cj_assessment}'),
        (5, 5, 'SV1',  'sv', 'Skriv en krönika om skärmtid.',                       'processing_pipelines',    '{spellcheck,cj_assessment}'),
        (6, 6, 'SV1',  'sv', 'Utredande text: kollektivtrafik på landsbygden.',     'awaiting_student_validation', '{spellcheck,nlp}'),
        (7, 1, 'ENG5', 'en', 'Letter to the editor about school lunches.',          'ready_for_pipeline_execution', '{spellcheck,nlp,cj_assessment}'),
        (8, 2, 'ENG5', 'en', 'Short story: the last day of summer.',                'awaiting_content_validation',  '{}')
       ) AS b (n, class, course_code, language, instructions, status, pipelines)
ON CONFLICT (id) DO NOTHING;

-- The phases each batch runs, with their progress.
INSERT INTO batch_pipeline_phases (batch_id, phase, sequence, status, essays_total,
                                   essays_succeeded, essays_failed, dispatched_at, started_at,
                                   finished_at, last_error)
SELECT md5('huleedu:batch:' || p.batch)::uuid,
       p.phase::pipeline_phase,
       p.seq,
       p.status::phase_status,
       p.total, p.ok, p.failed,
       CASE WHEN p.status <> 'pending' THEN base + p.seq * interval '10 minutes' END,
       CASE WHEN p.status <> 'pending' THEN base + p.seq * interval '10 minutes' + interval '1 minute' END,
       CASE WHEN p.status IN ('completed', 'completed_with_failures')
            THEN base + p.seq * interval '10 minutes' + interval '8 minutes' END,
       p.error
  FROM (VALUES
        (1, 'spellcheck', 1, 'completed', 20, 20, 0, NULL),
        (1, 'nlp', 2, 'completed', 20, 20, 0, NULL),
        (1, 'cj_assessment', 3, 'completed', 20, 20, 0, NULL),
        (2, 'spellcheck', 1, 'completed', 20, 20, 0, NULL),
        (2, 'nlp', 2, 'completed', 20, 20, 0, NULL),
        (2, 'cj_assessment', 3, 'completed', 20, 20, 0, NULL),
        (3, 'spellcheck', 1, 'completed_with_failures', 20, 18, 2, 'text extraction produced empty content for 2 essays'),
        (3, 'nlp', 2, 'completed', 18, 18, 0, NULL),
        (4, 'spellcheck', 1, 'completed', 20, 20, 0, NULL),
        (4, 'nlp', 2, 'in_progress', 20, 12, 0, NULL),
        (4, 'cj_assessment', 3, 'pending', 0, 0, 0, NULL),
        (5, 'spellcheck', 1, 'in_progress', 20, 8, 0, NULL),
        (5, 'cj_assessment', 2, 'pending', 0, 0, 0, NULL),
        (6, 'spellcheck', 1, 'pending', 0, 0, 0, NULL),
        (6, 'nlp', 2, 'pending', 0, 0, 0, NULL),
        (7, 'spellcheck', 1, 'pending', 0, 0, 0, NULL),
        (7, 'nlp', 2, 'pending', 0, 0, 0, NULL),
        (7, 'cj_assessment', 3, 'pending', 0, 0, 0, NULL)
       ) AS p (batch, phase, seq, status, total, ok, failed, error)
 CROSS JOIN LATERAL (SELECT timestamptz '2025-09-01 07:30+00' + (p.batch - 1) * interval '4 days' AS base) t
ON CONFLICT (batch_id, phase) DO NOTHING;
