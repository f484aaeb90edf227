DROP TABLE applications_interview;
