DROP TABLE essay_state_transitions;
DROP TABLE essay_states;
DROP TABLE batch_essay_trackers;
DROP FUNCTION record_essay_transition();
DROP FUNCTION set_updated_at();
DROP TYPE essay_status;
