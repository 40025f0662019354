//! Tenant context store: one JSON document per tenant (a
//! [`TenantContext`]: the newest tenant state the provisioner published)
//! plus a site-host column for lookups by host. The projector writes, the
//! context API reads.

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

    /// The context of the tenant whose site host is `host` (exact, lower
    /// case). When several contexts name the host (it moved to a new tenant),
    /// a tenant that is not destroyed wins, then the most recently updated.
    pub async fn get_by_host(&self, host: &str) -> Result<Option<TenantContext>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT context FROM tenant_contexts WHERE site_host = $1 ORDER BY updated_at DESC",
        )
        .bind(host)
        .fetch_all(self.store.pool())
        .await?;
        let contexts = rows
            .into_iter()
            .map(|(c,)| serde_json::from_str::<TenantContext>(&c).map_err(StoreError::from))
            .collect::<Result<Vec<_>, _>>()?;
        let live = contexts
            .iter()
            .position(|c| c.state.status != tenantry_sagas::TenantStatus::Destroyed)
            .unwrap_or(0);
        Ok(contexts.into_iter().nth(live))
    }

    /// The context of `tenant_id` with its revision, for [`ContextStore::put_if`].
    pub async fn get_with_revision(
        &self,
        tenant_id: &TenantId,
    ) -> Result<Option<(TenantContext, i64)>, StoreError> {
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT context, revision FROM tenant_contexts WHERE tenant_id = $1")
                .bind(tenant_id.as_str())
                .fetch_optional(self.store.pool())
                .await?;
        row.map(|(c, revision)| Ok((serde_json::from_str(&c)?, revision)))
            .transpose()
    }

    /// Writes `context` if the stored revision is still `expected` (`None`:
    /// no row yet). Returns `false` when another writer got there first — the
    /// caller re-reads and re-applies. This keeps two projector instances
    /// that both hold a tenant's partition for a moment (a rebalance) from
    /// writing an older state over a newer one.
    pub async fn put_if(
        &self,
        context: &TenantContext,
        expected: Option<i64>,
    ) -> Result<bool, StoreError> {
        let json = serde_json::to_string(context)?;
        let query = match expected {
            None => sqlx::query(
                "INSERT INTO tenant_contexts (tenant_id, site_host, context, revision, updated_at) \
                 VALUES ($1, $2, $3, 1, $4) ON CONFLICT (tenant_id) DO NOTHING",
            ),
            Some(_) => sqlx::query(
                "UPDATE tenant_contexts SET site_host = $2, context = $3, revision = revision + 1, \
                 updated_at = $4 WHERE tenant_id = $1 AND revision = $5",
            ),
        };
        let query = query
            .bind(context.tenant_id.as_str())
            .bind(context.state.site_host.as_deref())
            .bind(json)
            .bind(now_ms());
        let query = match expected {
            Some(revision) => query.bind(revision),
            None => query,
        };
        let written = query.execute(self.store.pool()).await?.rows_affected();
        Ok(written == 1)
    }

    /// Upserts `context` unconditionally (replay into an empty store).
    pub async fn put(&self, context: &TenantContext) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO tenant_contexts (tenant_id, site_host, context, revision, updated_at) \
             VALUES ($1, $2, $3, 1, $4) ON CONFLICT (tenant_id) DO UPDATE SET \
             site_host = excluded.site_host, context = excluded.context, \
             revision = tenant_contexts.revision + 1, updated_at = excluded.updated_at",
        )
        .bind(context.tenant_id.as_str())
        .bind(context.state.site_host.as_deref())
        .bind(serde_json::to_string(context)?)
        .bind(now_ms())
        .execute(self.store.pool())
        .await?;
        Ok(())
    }

    /// Every stored context, ordered by tenant id.
    pub async fn all(&self) -> Result<Vec<TenantContext>, StoreError> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT context FROM tenant_contexts ORDER BY tenant_id")
                .fetch_all(self.store.pool())
                .await?;
        rows.into_iter()
            .map(|(c,)| serde_json::from_str(&c).map_err(StoreError::from))
            .collect()
    }

    /// The underlying store (readiness checks).
    pub fn store(&self) -> &Store {
        &self.store
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
