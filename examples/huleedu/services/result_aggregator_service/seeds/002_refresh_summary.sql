-- What the service does after each completed batch, so the dashboard shows the seed data.
SELECT refresh_class_result_summary();
