-- Authentication devices registered for push notifications (/bc-deviceRegistration).
-- The push token is read back to send notifications, so it is kept as Fernet ciphertext;
-- its keyed hash makes re-registering the same token idempotent.
CREATE TABLE devices (
    id          uuid PRIMARY KEY,
    sub         text NOT NULL REFERENCES users ON DELETE CASCADE,
    token_hash  bytea NOT NULL,
    token_enc   text NOT NULL,
    created_at  timestamptz NOT NULL,
    last_registered_at timestamptz NOT NULL,
    UNIQUE (sub, token_hash)
);
CREATE INDEX devices_sub ON devices (sub);
