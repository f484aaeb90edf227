DROP TABLE cj_essay_rankings;
DROP TABLE cj_comparisons;
DROP TABLE cj_comparison_pairs;
DROP TABLE cj_processed_essays;
DROP TABLE cj_batch_uploads;
DROP FUNCTION check_comparison_winner();
DROP FUNCTION set_updated_at();
DROP TYPE cj_batch_state;
