-- Row level security hides every profile but the session user's own, also from the services
-- that read user_schema. The notification service needs a recipient's name, language and
-- phone number to render a message: this function is that narrow API. It runs as the owner
-- (whose policy sees every row) and returns one user's contact details, nothing else.
-- pgfleet grants EXECUTE on user_schema's functions to the services that read it.
CREATE FUNCTION notification_recipient(recipient_user_id uuid)
RETURNS TABLE (first_name varchar, last_name varchar, language varchar, phone_number varchar)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = user_schema, pg_temp
AS $$
    SELECT p.first_name, p.last_name, coalesce(pref.language, 'en'), p.phone_number
      FROM profiles_userprofile p
      LEFT JOIN profiles_userpreference pref ON pref.profile_id = p.id
     WHERE p.user_id = recipient_user_id;
$$;
