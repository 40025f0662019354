-- Reconciler state per tenant (issue #4): what commerce asked for (desired)
-- and what completed sagas did (provisioned), as JSON of
-- tenantry_sagas::{DesiredState, ProvisionedState}.
CREATE TABLE tenant_states (
    tenant_id     TEXT PRIMARY KEY,
    desired       TEXT NOT NULL,
    provisioned   TEXT NOT NULL,
    updated_at    BIGINT NOT NULL
);

-- Released site hosts, reusable after a quarantine (destruction, issue #4).
CREATE TABLE released_hosts (
    host           TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL,
    released_at    BIGINT NOT NULL,
    reusable_after BIGINT NOT NULL
);

-- Product database snapshots taken before a database is retired.
CREATE TABLE database_snapshots (
    snapshot_name  TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL,
    product        TEXT NOT NULL,
    database_name  TEXT NOT NULL,
    taken_at       BIGINT NOT NULL
);

ALTER TABLE licences ADD COLUMN over_licence INTEGER NOT NULL DEFAULT 0;
ALTER TABLE product_databases ADD COLUMN credentials TEXT;
