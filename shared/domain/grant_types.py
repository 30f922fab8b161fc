"""The grant types this server answers at /token."""

CIBA_GRANT = "urn:openid:params:grant-type:ciba"
REFRESH_TOKEN_GRANT = "refresh_token"
SUPPORTED_GRANT_TYPES = (CIBA_GRANT, REFRESH_TOKEN_GRANT)
