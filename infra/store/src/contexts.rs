//! Tenant context store: one JSON document per tenant plus a unique site-host
//! column for lookups by host. The projector writes, the context API reads.

use crate::store::{Store, StoreError, now_ms};
use tenantry_sagas::TenantContext;
use tenantry_schemas::TenantId;

/// Reads and writes tenant contexts.
#[derive(Debug, Clone)]
pub struct ContextStore {
    store: Store,
}

impl ContextStore {
    /// Wraps a migrated store.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// The context of `tenant_id`, if any event touched it.
    pub async fn get(&self, tenant_id: &TenantId) -> Result<Option<TenantContext>, StoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT context FROM tenant_contexts WHERE tenant_id = $1")
                .bind(tenant_id.as_str())
                .fetch_optional(self.store.pool())
                .await?;
        row.map(|(c,)| serde_json::from_str(&c).map_err(StoreError::from))
            .transpose()
    }

    /// The context of the tenant whose site host is `host` (exact, lower case).
    pub async fn get_by_host(&self, host: &str) -> Result<Option<TenantContext>, StoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT context FROM tenant_contexts WHERE site_host = $1")
                .bind(host)
                .fetch_optional(self.store.pool())
                .await?;
        row.map(|(c,)| serde_json::from_str(&c).map_err(StoreError::from))
            .transpose()
    }

    /// Upserts `context`. The fold already guarantees it only moves forward.
    pub async fn put(&self, context: &TenantContext) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO tenant_contexts (tenant_id, site_host, context, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id) DO UPDATE SET site_host = excluded.site_host, \
             context = excluded.context, updated_at = excluded.updated_at",
        )
        .bind(context.tenant_id.as_str())
        .bind(context.site_host.as_deref())
        .bind(serde_json::to_string(context)?)
        .bind(now_ms())
        .execute(self.store.pool())
        .await?;
        Ok(())
    }

    /// Deletes every context (used by `tenantry replay` into an empty store).
    pub async fn clear(&self) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM tenant_contexts")
            .execute(self.store.pool())
            .await?
            .rows_affected())
    }

    /// Number of stored contexts.
    pub async fn count(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM tenant_contexts")
            .fetch_one(self.store.pool())
            .await?;
        Ok(n)
    }
}
