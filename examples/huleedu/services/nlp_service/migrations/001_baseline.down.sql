DROP TABLE student_match_suggestions;
DROP TABLE grammar_issues;
DROP TABLE nlp_analyses;
DROP FUNCTION set_updated_at();
DROP TYPE grammar_issue_category;
DROP TYPE nlp_analysis_status;
