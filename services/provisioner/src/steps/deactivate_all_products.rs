//! Destruction, first step (seed, "Tenant provisioning and lifecycle":
//! "an entire tenant is deleted"): every product of the tenant is
//! deactivated, in reverse order of activation — its apps get their
//! `uninstalled` callbacks before the rows; then, in one transaction, its
//! installed apps, users group, database row (its shard gets the room
//! back), licence, site entry and metadata are deleted, and a snapshot row
//! is written for its database. After that commits each database is
//! snapshot (the seed's backups; where shards are RDS instances, the
//! instance too) and dropped or archived per retention; both again when a
//! retry finds the step recorded.
//!
//! A pivot: a destroyed tenant is never brought back, so the step is never
//! undone.

use super::end_licence::end_licence;
use super::retire_database::forget_database;
use super::{StepContext, StepHandler, callbacks, product_group, retire, snapshot_name};
use async_trait::async_trait;
use std::time::Duration;
use tenantry_sagas::step_store::StepStore;
use tenantry_sagas::{SagaState, Step, StepError, StepOutput, StepPolicy};
use tenantry_schemas::Region;

/// Deactivates every product of a destroyed tenant.
pub(super) struct DeactivateAllProducts;

#[async_trait]
impl StepHandler for DeactivateAllProducts {
    /// Snapshots and retirements of every product database: 60 s per attempt.
    fn policy(&self) -> StepPolicy {
        StepPolicy::with_timeout(Duration::from_secs(60))
    }

    async fn prepare(&self, cx: &StepContext, saga: &SagaState) -> Result<(), StepError> {
        for product in &saga.spec.products {
            callbacks(cx, saga, Step::DeactivateAllProducts, product, false).await?;
        }
        Ok(())
    }

    async fn execute(
        &self,
        _cx: &StepContext,
        store: &mut dyn StepStore,
        saga: &SagaState,
    ) -> Result<StepOutput, StepError> {
        let tenant = &saga.tenant_id;
        let mut retired = Vec::new();
        let mut shards = Vec::new();
        for p in &saga.spec.products {
            let product = &p.product;
            store.delete_installed_apps(tenant, product).await?;
            let (group, _) = product_group(product.as_str());
            store.delete_group(tenant, &group).await?;
            if let Some(placed) = forget_database(store, tenant, product).await? {
                let database = placed.database;
                let snapshot = snapshot_name(&database, saga);
                store
                    .insert_snapshot(&snapshot, tenant, product, &database)
                    .await?;
                let region = store.shard_region(&placed.shard).await?;
                if let Some(region) = region.and_then(|r| Region::parse(&r, "shards.region").ok()) {
                    shards.push((database.clone(), placed.shard, region));
                }
                retired.push(database);
            }
            end_licence(store, tenant, product).await?;
        }
        let deactivated: Vec<&str> = saga
            .spec
            .products
            .iter()
            .map(|p| p.product.as_str())
            .collect();
        let output = StepOutput::new()
            .fact("deactivated", deactivated.join(","))
            .with_retired(retired.iter().map(String::as_str));
        Ok(shards
            .into_iter()
            .fold(output, |output, (database, shard, region)| {
                output.with_retired_from(&database, shard, region)
            }))
    }

    async fn complete(
        &self,
        cx: &StepContext,
        saga: &SagaState,
        output: &StepOutput,
    ) -> Result<(), StepError> {
        for database in output.retired() {
            // The snapshot first: retiring drops (or renames) its source.
            let snapshot = snapshot_name(&database, saga);
            cx.databases.snapshot(&database, &snapshot).await?;
            if let Some((shard, region)) = output.retired_from(&database) {
                cx.shards.snapshot_server(region, shard, &snapshot).await?;
            }
            retire(cx, &database).await?;
        }
        Ok(())
    }
}
