-- Poll bookkeeping (CIBA 7.3, and slow_down of section 11): when each request was last polled
-- and the interval it is held to now. A poll wrote these on auth_requests, one WAL-logged,
-- synchronously committed row version per poll. They move to an UNLOGGED table: no WAL, and
-- after a crash of Postgres the table is empty, which forgets at most one slow_down per
-- request (the next poll is answered as a first one). Nothing else is lost: the request's
-- state, and its initial interval (auth_requests.interval_sec), stay in logged tables.
CREATE UNLOGGED TABLE poll_marks (
    auth_request_id uuid PRIMARY KEY,
    last_polled_at  timestamptz NOT NULL,
    interval_sec    integer NOT NULL,
    too_fast        boolean NOT NULL DEFAULT false
);
ALTER TABLE auth_requests DROP COLUMN last_polled_at;
