DROP INDEX idx_studentprofile_skills;

ALTER TABLE profiles_userprofile
    DROP CONSTRAINT profiles_userprofile_visibility_check,
    DROP COLUMN visibility;
