-- Parking and per-tenant commerce order (issue #3).

-- processed: released and planned; waiting: held behind a parked tenant or a
-- sequence gap; stale: sequence not newer than the last released (no-op);
-- skipped: released past by an operator.
ALTER TABLE tenant_events ADD COLUMN state TEXT NOT NULL DEFAULT 'processed';
CREATE INDEX tenant_events_waiting ON tenant_events (tenant_id, sequence) WHERE state = 'waiting';

-- Last released commerce sequence per tenant (sequences start at 1).
CREATE TABLE tenant_cursors (
    tenant_id     TEXT PRIMARY KEY,
    last_sequence BIGINT NOT NULL
);

-- A tenant whose events wait: its saga failed (kind saga_failed) or its next
-- sequence has not arrived (kind sequence_gap). `action` is set by an
-- operator (`tenantry sagas retry|skip`) and carried out by the provisioner.
CREATE TABLE parked_tenants (
    tenant_id     TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    reason        TEXT NOT NULL,
    saga_id       TEXT,
    event_id      TEXT,
    action        TEXT,
    parked_at     BIGINT NOT NULL
);
