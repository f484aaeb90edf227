DROP TABLE profiles_userpreference;
DROP TABLE profiles_employerprofile;
DROP TABLE profiles_studentprofile;
DROP TABLE profiles_userprofile;
DROP FUNCTION set_updated_at();
