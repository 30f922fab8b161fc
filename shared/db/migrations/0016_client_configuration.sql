-- RFC 7592: the registration access token a client manages its registration with, stored as a
-- keyed hash like every bearer secret. NULL for clients registered before, or by an operator.
ALTER TABLE clients ADD COLUMN registration_token_hash bytea;
