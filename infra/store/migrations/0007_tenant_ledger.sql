-- The provisioner's ledger per tenant, beside desired and provisioned state:
-- released commerce sequence, parking, rejections and the standing saga
-- failure, as JSON of tenantry_sagas::Ledger. With the other two it is what
-- the tenant-state record published on provisioning.events.v1 is computed
-- from. Rows written before it hold '{}' until `tenantry republish`
-- rebuilds them from the admission tables and the saga store.
ALTER TABLE tenant_states ADD COLUMN ledger TEXT NOT NULL DEFAULT '{}';
