-- Client authentication by JWT, signed requests, one-time codes.

-- client_secret_jwt verifies an HMAC keyed with the client secret, so for those clients the
-- secret is kept (Fernet ciphertext) besides its hash.
ALTER TABLE clients ADD COLUMN client_secret_enc text;
ALTER TABLE clients ADD COLUMN token_endpoint_auth_signing_alg text;

-- jti values of client assertions and signed requests, refused when presented again within
-- their lifetime. Rows past expires_at are purged by the request-processor.
CREATE TABLE used_jtis (
    client_id  text NOT NULL,
    purpose    text NOT NULL,
    jti        text NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (client_id, purpose, jti)
);
CREATE INDEX used_jtis_expiry ON used_jtis (expires_at);

-- The last TOTP time step a user authenticated with: a code is good once.
ALTER TABLE users ADD COLUMN totp_last_step bigint;
