//! Tenant context store: one JSON document per tenant (a
//! [`TenantContext`]: the newest tenant state the provisioner published)
//! plus a site-host column for lookups by host. The projector writes, the
//! context API reads.
//!
//! [`ContextStore`] is the SQL [`TenantContexts`]: the trait's methods
//! delegate to the inherent ones, which return [`StoreError`].

use crate::store::{Store, StoreError, now_ms};
use std::collections::{BTreeMap, BTreeSet};
use tenantry_sagas::{ContextsError, TenantContext, TenantContexts};
use tenantry_schemas::TenantId;

/// Most rows in one statement (5 parameters each).
const ROWS_PER_STATEMENT: usize = 1000;

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

    /// The stored contexts of `tenants` with their revisions, in one query
    /// per 1,000 tenants; a tenant without a context is absent.
    ///
    /// # Errors
    /// The store's, or a stored context that does not decode.
    pub async fn get_many(
        &self,
        tenants: &[&TenantId],
    ) -> Result<BTreeMap<TenantId, (TenantContext, i64)>, StoreError> {
        let mut found = BTreeMap::new();
        for chunk in tenants.chunks(ROWS_PER_STATEMENT) {
            let params: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT context, revision FROM tenant_contexts WHERE tenant_id IN ({})",
                params.join(", ")
            );
            let mut query = sqlx::query_as::<_, (String, i64)>(&sql);
            for tenant in chunk {
                query = query.bind(tenant.as_str());
            }
            for (context, revision) in query.fetch_all(self.store.pool()).await? {
                let context: TenantContext = serde_json::from_str(&context)?;
                found.insert(context.tenant_id.clone(), (context, revision));
            }
        }
        Ok(found)
    }

    /// Writes each context whose stored revision is still the expected one
    /// (`None`: no context stored yet), one statement per 1,000 contexts:
    /// an upsert whose update applies only when the stored revision is the
    /// expected one. Returns the tenants written; the others changed
    /// meanwhile (the caller reads them again).
    ///
    /// # Errors
    /// The store's.
    pub async fn put_many_if(
        &self,
        contexts: &[(TenantContext, Option<i64>)],
    ) -> Result<BTreeSet<TenantId>, StoreError> {
        let now = now_ms();
        let mut written = BTreeSet::new();
        for chunk in contexts.chunks(ROWS_PER_STATEMENT) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let n = i * 5;
                    format!(
                        "(${}, ${}, ${}, ${}, ${})",
                        n + 1,
                        n + 2,
                        n + 3,
                        n + 4,
                        n + 5
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO tenant_contexts (tenant_id, site_host, context, revision, updated_at) \
                 VALUES {} ON CONFLICT (tenant_id) DO UPDATE SET site_host = excluded.site_host, \
                 context = excluded.context, revision = excluded.revision, updated_at = excluded.updated_at \
                 WHERE tenant_contexts.revision = excluded.revision - 1 RETURNING tenant_id",
                rows.join(", ")
            );
            let mut query = sqlx::query_as::<_, (String,)>(&sql);
            for (context, expected) in chunk {
                query = query
                    .bind(context.tenant_id.as_str())
                    .bind(context.state.site_host.as_deref())
                    .bind(serde_json::to_string(context)?)
                    .bind(expected.map_or(1, |revision| revision + 1))
                    .bind(now);
            }
            for (tenant,) in query.fetch_all(self.store.pool()).await? {
                written.insert(
                    TenantId::parse(&tenant).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                );
            }
        }
        Ok(written)
    }

    /// Deletes each tenant's context whose stored revision is the expected
    /// one, one statement per 1,000 tenants. Returns the tenants deleted;
    /// the others changed meanwhile or are gone.
    ///
    /// # Errors
    /// The store's.
    pub async fn delete_many_if(
        &self,
        tenants: &[(TenantId, i64)],
    ) -> Result<BTreeSet<TenantId>, StoreError> {
        let mut deleted = BTreeSet::new();
        for chunk in tenants.chunks(ROWS_PER_STATEMENT) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| format!("(tenant_id = ${} AND revision = ${})", 2 * i + 1, 2 * i + 2))
                .collect();
            let sql = format!(
                "DELETE FROM tenant_contexts WHERE {} RETURNING tenant_id",
                rows.join(" OR ")
            );
            let mut query = sqlx::query_as::<_, (String,)>(&sql);
            for (tenant, expected) in chunk {
                query = query.bind(tenant.as_str()).bind(*expected);
            }
            for (tenant,) in query.fetch_all(self.store.pool()).await? {
                deleted.insert(
                    TenantId::parse(&tenant).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                );
            }
        }
        Ok(deleted)
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

    /// Whether the store answers: one `SELECT 1`.
    ///
    /// # Errors
    /// The store's.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(self.store.pool()).await?;
        Ok(())
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

impl From<StoreError> for ContextsError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Corrupt(_) => ContextsError::Corrupt(Box::new(error)),
            other => ContextsError::Unavailable(Box::new(other)),
        }
    }
}

#[async_trait::async_trait]
impl TenantContexts for ContextStore {
    async fn get(&self, tenant_id: &TenantId) -> Result<Option<TenantContext>, ContextsError> {
        Ok(ContextStore::get(self, tenant_id).await?)
    }

    async fn get_by_host(&self, host: &str) -> Result<Option<TenantContext>, ContextsError> {
        Ok(ContextStore::get_by_host(self, host).await?)
    }

    async fn get_many(
        &self,
        tenants: &[&TenantId],
    ) -> Result<BTreeMap<TenantId, (TenantContext, i64)>, ContextsError> {
        Ok(ContextStore::get_many(self, tenants).await?)
    }

    async fn put_many_if(
        &self,
        contexts: &[(TenantContext, Option<i64>)],
    ) -> Result<BTreeSet<TenantId>, ContextsError> {
        use tracing::Instrument as _;
        let span = crate::spans::context_write(self.store.backend(), contexts.len());
        Ok(ContextStore::put_many_if(self, contexts)
            .instrument(span)
            .await?)
    }

    async fn delete_many_if(
        &self,
        tenants: &[(TenantId, i64)],
    ) -> Result<BTreeSet<TenantId>, ContextsError> {
        Ok(ContextStore::delete_many_if(self, tenants).await?)
    }

    async fn put(&self, context: &TenantContext) -> Result<(), ContextsError> {
        Ok(ContextStore::put(self, context).await?)
    }

    async fn all(&self) -> Result<Vec<TenantContext>, ContextsError> {
        Ok(ContextStore::all(self).await?)
    }

    async fn ping(&self) -> Result<(), ContextsError> {
        Ok(ContextStore::ping(self).await?)
    }

    async fn clear(&self) -> Result<u64, ContextsError> {
        Ok(ContextStore::clear(self).await?)
    }
}
