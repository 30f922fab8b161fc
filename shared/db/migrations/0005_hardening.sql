-- Attempt counters shared by every gateway replica (login pages, user_code guesses), and the
-- notifier's claim on a request while it notifies the user.

CREATE TABLE login_throttle (
    key          text PRIMARY KEY,
    window_start timestamptz NOT NULL,
    attempts     integer NOT NULL
);

-- Set while one notifier instance is notifying the user, so duplicate created events (a late
-- message and its re-announcement) do not notify twice.
ALTER TABLE auth_requests ADD COLUMN notify_claimed_at timestamptz;
