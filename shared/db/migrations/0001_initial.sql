-- The initial schema. Secrets that are only compared are stored as keyed hashes (bytea);
-- secrets that must be read back (private keys, notification tokens) are Fernet ciphertext.

CREATE TABLE as_config (
    key        text PRIMARY KEY,
    value      jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE signing_keys (
    kid             text PRIMARY KEY,
    kty             text NOT NULL CHECK (kty IN ('RSA', 'EC')),
    public_jwk      jsonb NOT NULL,
    private_key_enc text NOT NULL,
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'retired')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    retired_at      timestamptz
);

CREATE TABLE clients (
    client_id                                   text PRIMARY KEY,
    client_secret_hash                          bytea,
    client_name                                 text,
    token_endpoint_auth_method                  text NOT NULL,
    grant_types                                 text[] NOT NULL,
    scope                                       text[] NOT NULL,
    backchannel_token_delivery_mode             text,
    backchannel_client_notification_endpoint    text,
    backchannel_authentication_request_signing_alg text,
    backchannel_user_code_parameter             boolean NOT NULL DEFAULT false,
    id_token_signed_response_alg                text NOT NULL DEFAULT 'RS256',
    metadata                                    jsonb NOT NULL,
    created_at                                  timestamptz NOT NULL DEFAULT now(),
    updated_at                                  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    sub            text PRIMARY KEY,
    username       text NOT NULL UNIQUE,
    email          text,
    phone_number   text,
    password_hash  text NOT NULL,
    claims         jsonb NOT NULL DEFAULT '{}',
    user_code_hash text,
    totp_secret_enc text,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE UNIQUE INDEX users_phone_number_key ON users (phone_number);

CREATE TABLE auth_requests (
    id                            uuid PRIMARY KEY,
    auth_req_id_hash              bytea NOT NULL UNIQUE,
    auth_req_id_enc               text NOT NULL,
    client_id                     text NOT NULL REFERENCES clients ON DELETE CASCADE,
    sub                           text NOT NULL REFERENCES users ON DELETE CASCADE,
    delivery_mode                 text NOT NULL CHECK (delivery_mode IN ('poll', 'ping', 'push')),
    scope                         text[] NOT NULL,
    acr_values                    text[],
    binding_message               text,
    client_notification_token_enc text,
    status                        text NOT NULL DEFAULT 'pending' CHECK (status IN
                                      ('pending', 'approved', 'denied', 'expired', 'failed',
                                       'tokens_issued')),
    interval_sec                  integer,
    last_polled_at                timestamptz,
    created_at                    timestamptz NOT NULL,
    expires_at                    timestamptz NOT NULL,
    decided_at                    timestamptz,
    auth_time                     timestamptz,
    acr                           text,
    failure_reason                text,
    tokens_issued_at              timestamptz
);
-- The expiry sweep reads only pending rows, oldest deadline first.
CREATE INDEX auth_requests_pending_expiry ON auth_requests (expires_at) WHERE status = 'pending';
CREATE INDEX auth_requests_sub ON auth_requests (sub) WHERE status = 'pending';

CREATE TABLE auth_request_history (
    id              bigserial PRIMARY KEY,
    auth_request_id uuid NOT NULL REFERENCES auth_requests ON DELETE CASCADE,
    status          text NOT NULL,
    at              timestamptz NOT NULL,
    service         text NOT NULL,
    detail          text
);
CREATE INDEX auth_request_history_request ON auth_request_history (auth_request_id, id);

CREATE TABLE device_page_refs (
    ref_hash        bytea PRIMARY KEY,
    auth_request_id uuid NOT NULL REFERENCES auth_requests ON DELETE CASCADE,
    created_at      timestamptz NOT NULL,
    used_at         timestamptz,
    failed_logins   integer NOT NULL DEFAULT 0
);
CREATE INDEX device_page_refs_request ON device_page_refs (auth_request_id);

CREATE TABLE notification_attempts (
    id              bigserial PRIMARY KEY,
    auth_request_id uuid NOT NULL REFERENCES auth_requests ON DELETE CASCADE,
    attempt         integer NOT NULL,
    notifier        text NOT NULL,
    outcome         text NOT NULL CHECK (outcome IN ('sent', 'failed', 'gave_up')),
    detail          text,
    at              timestamptz NOT NULL
);
CREATE INDEX notification_attempts_request ON notification_attempts (auth_request_id, id);

CREATE TABLE delivery_attempts (
    id              bigserial PRIMARY KEY,
    auth_request_id uuid NOT NULL REFERENCES auth_requests ON DELETE CASCADE,
    attempt         integer NOT NULL,
    mode            text NOT NULL,
    outcome         text NOT NULL,
    status_code     integer,
    detail          text,
    at              timestamptz NOT NULL
);
CREATE INDEX delivery_attempts_request ON delivery_attempts (auth_request_id, id);

CREATE TABLE tokens (
    id          uuid PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('access', 'refresh')),
    token_hash  bytea UNIQUE,
    grant_id    uuid NOT NULL,
    client_id   text NOT NULL REFERENCES clients ON DELETE CASCADE,
    sub         text NOT NULL REFERENCES users ON DELETE CASCADE,
    scope       text[] NOT NULL,
    auth_time   timestamptz,
    acr         text,
    issued_at   timestamptz NOT NULL,
    expires_at  timestamptz,
    used_at     timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX tokens_grant ON tokens (grant_id);

-- Events written in the same transaction as the state change they announce; the
-- request-processor relays them to RabbitMQ and deletes them once the broker confirmed.
CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    message_id      uuid NOT NULL UNIQUE,
    routing_key     text NOT NULL,
    body            jsonb NOT NULL,
    auth_request_id uuid,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- A consumer records each event id with its effect, in one transaction.
CREATE TABLE processed_events (
    consumer     text NOT NULL,
    message_id   uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);
