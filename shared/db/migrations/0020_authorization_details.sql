-- Rich authorization requests (RFC 9396): the authorization_details a request carried (a JSON
-- array of objects, checked at /bc-authorize), and the same on the tokens minted from it (the
-- access token's claim, introspection, and the grant a refresh token renews). NULL when the
-- request had none. Adding NULL columns rewrites nothing.
ALTER TABLE auth_requests ADD COLUMN authorization_details jsonb;
ALTER TABLE tokens ADD COLUMN authorization_details jsonb;
