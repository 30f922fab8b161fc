-- Which event holds the claim to notify the user. A redelivery of that same event (after the
-- notifier was killed, or the database was briefly gone) takes its claim back at once instead
-- of waiting for it to lapse; another event (a re-announcement) still waits.
ALTER TABLE auth_requests ADD COLUMN notify_claimed_by uuid;
