-- Localised device pages: the languages the client asked them to speak (OIDC ui_locales on the
-- authentication request, space-separated, well-formed tags only). NULL when it asked none; the
-- pages then follow the browser's Accept-Language. Adding a NULL column rewrites nothing.
ALTER TABLE auth_requests ADD COLUMN ui_locales text;
