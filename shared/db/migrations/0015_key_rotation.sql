-- Signing key rotation (ciba-admin keys rotate / retire). A key is published at /jwks from
-- its creation, signs from activates_at (relying parties that cache the JWKS see it first),
-- and once retired stops signing at once and leaves /jwks (and verification) at retired_at.
ALTER TABLE signing_keys ADD COLUMN activates_at timestamptz;
UPDATE signing_keys SET activates_at = created_at;
ALTER TABLE signing_keys ALTER COLUMN activates_at SET NOT NULL, ALTER COLUMN activates_at SET DEFAULT now();
UPDATE signing_keys SET retired_at = coalesce(retired_at, now()) WHERE status = 'retired';
