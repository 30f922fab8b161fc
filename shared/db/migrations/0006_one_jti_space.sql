-- One jti space per client for every JWT it sends (client assertions and signed
-- authentication requests alike), so a JWT accepted for one purpose cannot be replayed for the
-- other. The purpose stays as a record of where a jti was first used.
DELETE FROM used_jtis a USING used_jtis b
 WHERE a.client_id = b.client_id AND a.jti = b.jti AND a.purpose > b.purpose;
ALTER TABLE used_jtis DROP CONSTRAINT used_jtis_pkey;
ALTER TABLE used_jtis ADD PRIMARY KEY (client_id, jti);
