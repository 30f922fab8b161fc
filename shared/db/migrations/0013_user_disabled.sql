-- ciba-admin user disable / enable: a disabled user is left out of every look-up the
-- protocol makes (hints, sign-in, userinfo, refresh), so they get unknown_user_id, and their
-- pending requests are denied when they are disabled. NULL: active.
ALTER TABLE users ADD COLUMN disabled_at timestamptz;
