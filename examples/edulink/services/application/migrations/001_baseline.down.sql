DROP TABLE applications_document;
DROP TABLE applications_statushistory;
DROP TABLE applications_application;
DROP TABLE applications_workflowtransition;
DROP FUNCTION application_record_status();
DROP FUNCTION application_enforce_workflow();
DROP FUNCTION set_updated_at();
DROP TYPE application_status;
