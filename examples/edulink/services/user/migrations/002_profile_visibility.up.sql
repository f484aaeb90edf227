-- Students choose who may find their profile when employers search for candidates; existing
-- profiles start visible to their institution only. Skills become searchable.
ALTER TABLE profiles_userprofile
    ADD COLUMN visibility varchar(12) NOT NULL DEFAULT 'institution',
    ADD CONSTRAINT profiles_userprofile_visibility_check
        CHECK (visibility IN ('public', 'institution', 'private'));

-- Complete student profiles were shown to employers before this change: keep them public.
UPDATE profiles_userprofile
   SET visibility = 'public'
 WHERE profile_type = 'student' AND is_profile_complete;

CREATE INDEX idx_studentprofile_skills ON profiles_studentprofile USING gin (skills);
