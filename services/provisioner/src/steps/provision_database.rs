//! Step 6, provision database: the product's database on a shard with room
//! in the tenant's region (a PostgreSQL schema on the local stack, a SQLite
//! file in embedded mode), its credentials sealed under the tenant's data
//! key (DESIGN.md, "Envelope encryption"). A tenant saga has no product and
//! nothing to do here. Data residency fails closed: a pinned tenant placed
//! elsewhere gets no database.
//!
//! A schema is created in the transaction of the rows (transactional DDL),
//! so the step runs in a batch and in the saga runner's transaction; a file
//! is created after the rows commit. In a batch, a region whose shards are
//! all full gets its next shard at once, outside the batch
//! ([`super::ShardProvisioner`]).
//!
//! Undone by deleting the database's row (its shard gets the room back),
//! then dropping the database.

use super::{StepContext, StepHandler, Work, product_of, residency_guard, sealed_credentials};
use async_trait::async_trait;
use std::time::Duration;
use tenantry_sagas::step_store::StepStore;
use tenantry_sagas::work::PlacedDatabase;
use tenantry_sagas::{SagaKind, SagaState, Step, StepError, StepOutput, StepPolicy};
use tenantry_schemas::Region;
use tenantry_store::product_db::database_name;

pub(super) struct ProvisionDatabase;

/// The region to place the database in: the one this saga placed the
/// tenant in (step 3), else the tenant's placement — checked against the
/// residency pin.
fn region(saga: &SagaState, placement: Option<(Region, bool)>) -> Result<Region, StepError> {
    let (placed, _) = placement.ok_or_else(|| {
        StepError::permanent(format!(
            "tenant {} has no region: its tenant_created saga has not completed",
            saga.tenant_id
        ))
    })?;
    residency_guard(saga, placed.as_str())?;
    Ok(saga
        .results
        .get(&Step::PlaceRegion)
        .and_then(StepOutput::region)
        .unwrap_or(placed))
}

#[async_trait]
impl StepHandler for ProvisionDatabase {
    /// DDL, or an RDS instance at scale, takes longer than a row.
    fn policy(&self) -> StepPolicy {
        StepPolicy::with_timeout(Duration::from_secs(60))
    }

    fn runs_in_batch(&self, cx: &StepContext, saga: &SagaState) -> bool {
        saga.kind == SagaKind::ProvisionTenant || cx.transactional_databases()
    }

    async fn run_in_batch(
        &self,
        ctx: &StepContext,
        work: &mut Work<'_>,
        saga: &SagaState,
    ) -> Result<StepOutput, StepError> {
        if saga.kind == SagaKind::ProvisionTenant {
            return Ok(StepOutput::new());
        }
        let tenant = &saga.tenant_id;
        let product = &product_of(saga)?.product;
        let placed = work.loaded.placements.get(tenant).copied();
        let region = region(saga, placed)?.as_str().to_owned();
        let key = (tenant.clone(), product.clone());
        if work.loaded.databases.contains_key(&key) {
            // Left by an earlier activation whose compensation did not finish:
            // the step's own path creates its schema again and seals missing
            // credentials; a batch knows neither.
            return Err(StepError::retryable(format!(
                "a product database of {tenant} {product} exists already; placed again outside a batch"
            )));
        }
        let with_room = work
            .loaded
            .shards
            .iter()
            .position(|s| s.region == region && s.used < s.capacity);
        let index = match with_room {
            Some(index) => index,
            None => {
                let count = work.loaded.shard_counts.entry(region.clone()).or_default();
                *count += 1;
                let added = ctx.shards.add_shard(&region, *count).await?;
                if added.used >= added.capacity {
                    return Err(StepError::retryable(format!(
                        "shard {} of region {region} filled up meanwhile",
                        added.shard_id
                    )));
                }
                work.loaded.shards.push(added);
                work.loaded.shards.len() - 1
            }
        };
        let shard = &mut work.loaded.shards[index];
        shard.used += 1;
        let shard = shard.shard_id.clone();
        let database = database_name(tenant.as_str(), product.as_str());
        let sealed = sealed_credentials(ctx, saga, &shard, &database).await?;
        *work.effects.shard_usage.entry(shard.clone()).or_default() += 1;
        work.effects.create_databases.push(database.clone());
        work.effects.databases.push((
            tenant.clone(),
            product.clone(),
            shard.clone(),
            database.clone(),
            sealed,
        ));
        work.loaded.databases.insert(
            key,
            PlacedDatabase {
                shard: shard.clone(),
                database: database.clone(),
            },
        );
        Ok(StepOutput::new().with_database(shard, database))
    }

    fn runs_in_work(&self, cx: &StepContext, saga: &SagaState) -> bool {
        self.runs_in_batch(cx, saga)
    }

    async fn execute(
        &self,
        cx: &StepContext,
        store: &mut dyn StepStore,
        saga: &SagaState,
    ) -> Result<StepOutput, StepError> {
        if saga.kind == SagaKind::ProvisionTenant {
            return Ok(StepOutput::new());
        }
        let tenant = &saga.tenant_id;
        let product = &product_of(saga)?.product;
        let region = region(saga, store.placement(tenant).await?)?;
        // One left by an earlier activation whose compensation did not
        // finish is used again.
        let placed = match store.product_database(tenant, product).await? {
            Some(placed) => placed,
            None => {
                let placed = PlacedDatabase {
                    shard: super::place_on_shard(cx, store, region).await?,
                    database: database_name(tenant.as_str(), product.as_str()),
                };
                store
                    .insert_product_database(tenant, product, &placed)
                    .await?;
                placed
            }
        };
        if cx.transactional_databases() {
            store.create_database(&placed.database).await?;
        }
        let sealed = sealed_credentials(cx, saga, &placed.shard, &placed.database).await?;
        store.store_credentials(&placed.database, &sealed).await?;
        Ok(StepOutput::new().with_database(placed.shard, placed.database))
    }

    /// Creates a database that is a file (idempotent).
    async fn complete(
        &self,
        cx: &StepContext,
        _saga: &SagaState,
        output: &StepOutput,
    ) -> Result<(), StepError> {
        if let Some(placed) = output.database().filter(|_| !cx.transactional_databases()) {
            cx.databases.create(&placed.database).await?;
        }
        Ok(())
    }

    async fn compensate(
        &self,
        _cx: &StepContext,
        store: &mut dyn StepStore,
        saga: &SagaState,
    ) -> Result<(), StepError> {
        if saga.kind == SagaKind::ProvisionTenant {
            return Ok(());
        }
        let tenant = &saga.tenant_id;
        let product = &product_of(saga)?.product;
        // Compensating twice must not give the shard its room back twice.
        if let Some(placed) = store.product_database(tenant, product).await? {
            store.delete_product_database(tenant, product).await?;
            store.add_shard_usage(&placed.shard, -1).await?;
        }
        Ok(())
    }

    /// Drops the database (idempotent).
    async fn compensated(&self, cx: &StepContext, saga: &SagaState) -> Result<(), StepError> {
        let recorded = saga.results.get(&Step::ProvisionDatabase);
        if let Some(placed) = recorded.and_then(StepOutput::database) {
            cx.databases.drop_database(&placed.database).await?;
        }
        Ok(())
    }
}
