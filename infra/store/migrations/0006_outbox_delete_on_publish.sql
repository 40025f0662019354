-- The relay now removes a row when it publishes it (the claim is a
-- DELETE … RETURNING committed after the broker acknowledged): every row in
-- the outbox is unpublished, so the published marker and its index go.
DELETE FROM outbox WHERE published_at IS NOT NULL;
DROP INDEX outbox_unpublished;
ALTER TABLE outbox DROP COLUMN published_at;
