DROP VIEW batch_progress;
