-- Analyses for the essays that reached NLP: batches 1–3 (all but batch 3's two empty essays)
-- and batch 4 (12 done, 8 being processed). Word counts and MTLD use the same formulas as the
-- other services' seeds. Re-runnable: ON CONFLICT DO NOTHING on (essay_id, analyzer_version).

INSERT INTO nlp_analyses (id, essay_id, batch_id, correlation_id, language, analyzer_version, status,
                          text_storage_id, word_count, sentence_count, avg_sentence_length,
                          type_token_ratio, mtld, flesch_kincaid_grade, features, cefr_level,
                          created_at, updated_at, completed_at)
SELECT md5('huleedu:nlp-analysis:' || b || ':' || e)::uuid,
       md5('huleedu:essay:' || b || ':' || e)::uuid,
       md5('huleedu:batch:' || b)::uuid,
       md5('huleedu:batch-correlation:' || b)::uuid,
       'en', '2.3.0',
       CASE WHEN done THEN 'completed' ELSE 'processing' END::nlp_analysis_status,
       'content-' || md5('huleedu:corrected:' || b || ':' || e),
       CASE WHEN done THEN words END,
       CASE WHEN done THEN words / sentence_len END,
       CASE WHEN done THEN round(words::numeric / (words / sentence_len), 2) END,
       CASE WHEN done THEN round(0.35 + mtld / 400, 3) END,
       CASE WHEN done THEN mtld END,
       CASE WHEN done THEN round(4 + sentence_len / 3.0 + mtld / 40, 1) END,
       CASE WHEN done THEN jsonb_build_object(
           'cefr_estimate', cefr,
           'passive_voice_ratio', round((mtld % 7) / 40, 3),
           'connectives', jsonb_build_object('however', e % 4, 'therefore', b % 3, 'moreover', (e + b) % 2),
           'paragraphs', 3 + e % 4)
       ELSE '{}'::jsonb END,
       CASE WHEN done THEN cefr END,
       queued, queued + interval '4 minutes',
       CASE WHEN done THEN queued + interval '4 minutes' END
  FROM generate_series(1, 4) b
 CROSS JOIN generate_series(1, 20) e
 CROSS JOIN LATERAL (SELECT
        250 + ('x' || substr(md5('huleedu:words:' || b || ':' || e), 1, 4))::bit(16)::int % 450 AS words,
        round(45 + ('x' || substr(md5('huleedu:mtld:' || b || ':' || e), 1, 4))::bit(16)::int % 600 / 10.0, 3) AS mtld,
        12 + e % 9 AS sentence_len,
        b <= 3 OR e <= 12 AS done,
        timestamptz '2025-09-01 07:50+00' + (b - 1) * interval '4 days' + e * interval '20 seconds' AS queued) x
 CROSS JOIN LATERAL (SELECT CASE WHEN mtld < 60 THEN 'A2' WHEN mtld < 75 THEN 'B1'
                                 WHEN mtld < 90 THEN 'B2' ELSE 'C1' END AS cefr) c
 WHERE NOT (b = 3 AND e IN (7, 15))
ON CONFLICT (essay_id, analyzer_version) DO NOTHING;

-- One to six grammar issues per completed analysis.
INSERT INTO grammar_issues (analysis_id, rule_id, category, message, char_offset, char_length, suggestions)
SELECT a.id, r.rule_id, r.category::grammar_issue_category, r.message,
       k * 211 + h % 97, r.len, r.suggestions
  FROM nlp_analyses a
 CROSS JOIN LATERAL (SELECT ('x' || substr(md5(a.id::text), 1, 4))::bit(16)::int AS h) hh
 CROSS JOIN LATERAL generate_series(1, 1 + h % 6) k
  JOIN (VALUES
        (0, 'SUBJECT_VERB_AGREEMENT', 'agreement', 'The verb does not agree with its subject.', 7, '{are,is}'::text[]),
        (1, 'PAST_TENSE_CONSISTENCY', 'tense', 'Tense changes within the paragraph.', 9, '{went}'),
        (2, 'COMMA_SPLICE', 'punctuation', 'Two main clauses joined by a comma.', 14, '{". ","; "}'),
        (3, 'MISSING_ARTICLE', 'grammar', 'A singular countable noun usually needs an article.', 6, '{"a ","the "}'),
        (4, 'ADVERB_PLACEMENT', 'word_order', 'Adverb placed between verb and object.', 18, '{}'),
        (5, 'INFORMAL_CONTRACTION', 'style', 'Avoid contractions in formal writing.', 5, '{"do not"}'),
        (6, 'DOUBLE_SPACE', 'typography', 'Two spaces between words.', 2, '{" "}')
       ) AS r (i, rule_id, category, message, len, suggestions)
    ON r.i = (h + k * 3) % 7
 WHERE a.status = 'completed'
ON CONFLICT (analysis_id, char_offset, rule_id) DO NOTHING;
