-- expect-index: idx_share_token_active
-- Seed 003 "Validate share token" (<5ms): a live (unrevoked, unexpired) link, opened from a client
-- address its allow-list admits, to an active dashboard. The token is development seed n = 6
-- (seeds/004_share_tokens.sql): md5('perses:share-token:6')::uuid.
SELECT t.id, t.dashboard_id, t.permission, t.expires_at, d.project, d.slug, d.document
  FROM share_token t
  JOIN dashboard d ON d.id = t.dashboard_id
 WHERE t.token = '73c212ac-a84f-934e-7826-de53a979d7ed'
   AND t.revoked_at IS NULL
   AND t.expires_at > now()
   AND (cardinality(t.allowed_cidrs) = 0 OR inet '10.20.4.17' <<= ANY (t.allowed_cidrs))
   AND d.state = 'active';
