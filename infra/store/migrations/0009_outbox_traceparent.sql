-- The W3C traceparent of the span that wrote an outbox row (the commerce
-- record's processing in the provisioner), so the relay's publish span
-- continues that record's trace and hands it on in the provisioning
-- record's headers. NULL when the writer exported no traces.
ALTER TABLE outbox ADD COLUMN traceparent TEXT;
