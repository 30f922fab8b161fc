-- DPoP (RFC 9449 11.1): the proofs the gateway accepted, so a replayed proof (same key, same
-- jti) is refused while its iat is still within dpopProofMaxAgeSec. The jti is kept as its
-- SHA-256 (a client chooses its length and content); a proof is identified per key, so another
-- key cannot use up a jti. Rows past expires_at are purged by the request-processor's
-- housekeeping: by then the proof's iat alone refuses it.
CREATE TABLE dpop_proofs (
    jkt        text NOT NULL,
    jti_hash   bytea NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (jkt, jti_hash)
);
CREATE INDEX dpop_proofs_expiry ON dpop_proofs (expires_at);
