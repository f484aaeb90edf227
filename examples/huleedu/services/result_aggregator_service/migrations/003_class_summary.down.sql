DROP FUNCTION refresh_class_result_summary();
DROP MATERIALIZED VIEW class_result_summary;
