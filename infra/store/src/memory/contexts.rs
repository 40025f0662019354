//! The tenant context store in memory: [`MemoryContexts`] implements
//! [`TenantContexts`] with the semantics of the SQL
//! [`crate::ContextStore`], for tests; the conformance suite
//! (`tests/contexts`) holds both to the trait's contracts.
//!
//! The rows sit behind one [`std::sync::Mutex`], held for each call and
//! never across an `.await`, so a call is atomic as one SQL statement is.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use tenantry_sagas::{ContextsError, TenantContext, TenantContexts, TenantStatus};
use tenantry_schemas::TenantId;

/// Tenant contexts in memory. Clones share the rows.
#[derive(Debug, Clone, Default)]
pub struct MemoryContexts {
    rows: Arc<Mutex<Rows>>,
}

#[derive(Debug, Default)]
struct Rows {
    /// Orders writes as the database's `updated_at` does.
    clock: u64,
    by_tenant: BTreeMap<TenantId, Row>,
}

#[derive(Debug)]
struct Row {
    context: TenantContext,
    revision: i64,
    written_at: u64,
}

impl Rows {
    /// Stores `context` with `revision`, as written now.
    fn write(&mut self, context: &TenantContext, revision: i64) {
        self.clock += 1;
        let row = Row {
            context: context.clone(),
            revision,
            written_at: self.clock,
        };
        self.by_tenant.insert(context.tenant_id.clone(), row);
    }
}

impl MemoryContexts {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn rows(&self) -> MutexGuard<'_, Rows> {
        // A panic while holding the lock leaves whole rows: keep going.
        self.rows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl TenantContexts for MemoryContexts {
    async fn get(&self, tenant_id: &TenantId) -> Result<Option<TenantContext>, ContextsError> {
        Ok(self
            .rows()
            .by_tenant
            .get(tenant_id)
            .map(|row| row.context.clone()))
    }

    async fn get_by_host(&self, host: &str) -> Result<Option<TenantContext>, ContextsError> {
        let rows = self.rows();
        let mut named: Vec<&Row> = rows
            .by_tenant
            .values()
            .filter(|row| row.context.state.site_host.as_deref() == Some(host))
            .collect();
        named.sort_by_key(|row| std::cmp::Reverse(row.written_at));
        let live = named
            .iter()
            .position(|row| row.context.state.status != TenantStatus::Destroyed)
            .unwrap_or(0);
        Ok(named.get(live).map(|row| row.context.clone()))
    }

    async fn get_many(
        &self,
        tenants: &[&TenantId],
    ) -> Result<BTreeMap<TenantId, (TenantContext, i64)>, ContextsError> {
        let rows = self.rows();
        Ok(tenants
            .iter()
            .filter_map(|tenant| rows.by_tenant.get(*tenant))
            .map(|row| {
                (
                    row.context.tenant_id.clone(),
                    (row.context.clone(), row.revision),
                )
            })
            .collect())
    }

    async fn put_many_if(
        &self,
        contexts: &[(TenantContext, Option<i64>)],
    ) -> Result<BTreeSet<TenantId>, ContextsError> {
        let mut rows = self.rows();
        let mut written = BTreeSet::new();
        for (context, expected) in contexts {
            let stored = rows
                .by_tenant
                .get(&context.tenant_id)
                .map(|row| row.revision);
            // As the SQL upsert: an absent row is inserted whatever was
            // expected; a present one is replaced only at the expected revision.
            let applies = match (stored, expected) {
                (None, _) => true,
                (Some(stored), Some(expected)) => stored == *expected,
                (Some(_), None) => false,
            };
            if applies {
                rows.write(context, expected.map_or(1, |revision| revision + 1));
                written.insert(context.tenant_id.clone());
            }
        }
        Ok(written)
    }

    async fn delete_many_if(
        &self,
        tenants: &[(TenantId, i64)],
    ) -> Result<BTreeSet<TenantId>, ContextsError> {
        let mut rows = self.rows();
        let mut deleted = BTreeSet::new();
        for (tenant, expected) in tenants {
            if rows
                .by_tenant
                .get(tenant)
                .is_some_and(|row| row.revision == *expected)
            {
                rows.by_tenant.remove(tenant);
                deleted.insert(tenant.clone());
            }
        }
        Ok(deleted)
    }

    async fn put(&self, context: &TenantContext) -> Result<(), ContextsError> {
        let mut rows = self.rows();
        let revision = rows
            .by_tenant
            .get(&context.tenant_id)
            .map_or(1, |row| row.revision + 1);
        rows.write(context, revision);
        Ok(())
    }

    async fn all(&self) -> Result<Vec<TenantContext>, ContextsError> {
        Ok(self
            .rows()
            .by_tenant
            .values()
            .map(|row| row.context.clone())
            .collect())
    }

    async fn ping(&self) -> Result<(), ContextsError> {
        Ok(())
    }

    async fn clear(&self) -> Result<u64, ContextsError> {
        let mut rows = self.rows();
        let cleared = rows.by_tenant.len() as u64;
        rows.by_tenant.clear();
        Ok(cleared)
    }
}
