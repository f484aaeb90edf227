-- Walk every essay through the pipeline of its batch up to where the batch stands, one status
-- at a time: the trigger records each step in essay_state_transitions. Re-runnable: an essay
-- already at its target does not move.

DO $$
DECLARE
    base  essay_status[] := '{uploaded,text_extracted,ready_for_processing}';
    sc    essay_status[] := '{awaiting_spellcheck,spellchecking_in_progress,spellchecked_success}';
    nlp   essay_status[] := '{awaiting_nlp,nlp_processing_in_progress,nlp_success}';
    cj    essay_status[] := '{awaiting_cj_assessment,cj_assessment_processing_in_progress,cj_assessment_success}';
    done  essay_status[] := '{all_processing_completed}';
    r     record;
    path  essay_status[];
    goal  essay_status;
    pos   integer;
BEGIN
    FOR r IN
        SELECT essay_id, batch_id, created_at, current_status,
               b, e
          FROM essay_states
          JOIN generate_series(1, 8) b ON md5('huleedu:batch:' || b)::uuid = essay_states.batch_id
          JOIN generate_series(1, 20) e ON md5('huleedu:essay:' || b || ':' || e)::uuid = essay_states.essay_id
    LOOP
        path := CASE
            WHEN r.b IN (1, 2) THEN base || sc || nlp || cj || done
            WHEN r.b = 3 AND r.e IN (7, 15) THEN base || sc[1:2] || '{spellcheck_failed}'::essay_status[]
            WHEN r.b = 3 THEN base || sc || nlp || done
            WHEN r.b = 4 THEN base || sc || nlp || cj || done
            WHEN r.b = 5 THEN base || sc || cj || done
            ELSE base
        END;
        goal := CASE
            WHEN r.b IN (1, 2, 3) THEN path[array_length(path, 1)]::text
            WHEN r.b = 4 THEN CASE WHEN r.e <= 12 THEN 'nlp_success' ELSE 'nlp_processing_in_progress' END
            WHEN r.b = 5 THEN CASE WHEN r.e <= 8 THEN 'spellchecked_success' ELSE 'spellchecking_in_progress' END
            WHEN r.b IN (6, 7) THEN 'ready_for_processing'
            ELSE CASE WHEN r.e <= 14 THEN 'text_extracted' ELSE 'uploaded' END
        END::essay_status;
        pos := array_position(path, r.current_status);
        WHILE pos IS NOT NULL AND path[pos] <> goal LOOP
            pos := pos + 1;
            UPDATE essay_states
               SET current_status = path[pos],
                   text_storage_id = coalesce(text_storage_id,
                                              'content-' || md5('huleedu:text:' || r.b || ':' || r.e)),
                   processing_metadata = processing_metadata || jsonb_build_object(
                       'last_event_type', CASE path[pos]
                           WHEN 'text_extracted' THEN 'huleedu.file.essay.content_provisioned.v1'
                           WHEN 'ready_for_processing' THEN 'huleedu.els.batch.essays.ready.v1'
                           WHEN 'awaiting_spellcheck' THEN 'huleedu.els.spellcheck.initiate.command.v1'
                           WHEN 'awaiting_nlp' THEN 'huleedu.els.nlp.initiate.command.v1'
                           WHEN 'awaiting_cj_assessment' THEN 'huleedu.els.cj_assessment.initiate.command.v1'
                           WHEN 'spellcheck_failed' THEN 'huleedu.essay.spellcheck.failed.v1'
                           WHEN 'all_processing_completed' THEN 'huleedu.els.essay.processing.completed.v1'
                           ELSE 'huleedu.essay.' || path[pos] || '.v1'
                       END),
                   version = version + 1,
                   updated_at = r.created_at + (pos - 1) * interval '3 minutes'
             WHERE essay_id = r.essay_id;
        END LOOP;
    END LOOP;
END;
$$;
