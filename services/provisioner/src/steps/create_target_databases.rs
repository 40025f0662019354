//! Move, first step: a residency pin set on an existing tenant (seed, "Data
//! residency") moves its product databases into the pinned region. Each
//! product database gets a shard in the pinned region (its use grows by
//! one) and a `database_moves` row (source, its credentials, target
//! `t_<tenant>__<product>__<region>`); the empty targets are created after
//! that commits (DDL is not transactional), and again when a retry finds
//! the step recorded. A tenant already placed in the pinned region moves
//! nothing.
//!
//! Data residency fails closed: every target shard must be in the pinned
//! region, else the step fails (permanently) before anything is written.
//!
//! Undone by giving each target shard its room back and deleting the moves,
//! then dropping the targets.

use super::{StepContext, StepHandler};
use async_trait::async_trait;
use std::time::Duration;
use tenantry_sagas::step_store::{DatabaseMove, StepStore};
use tenantry_sagas::work::PlacedDatabase;
use tenantry_sagas::{SagaState, Step, StepError, StepOutput, StepPolicy};
use tenantry_schemas::{Region, TenantId};
use tenantry_store::product_db::moved_database_name;

/// Creates a move's target databases in the pinned region.
pub(super) struct CreateTargetDatabases;

#[async_trait]
impl StepHandler for CreateTargetDatabases {
    /// Creating the databases: 60 s per attempt.
    fn policy(&self) -> StepPolicy {
        StepPolicy::with_timeout(Duration::from_secs(60))
    }

    async fn execute(
        &self,
        cx: &StepContext,
        store: &mut dyn StepStore,
        saga: &SagaState,
    ) -> Result<StepOutput, StepError> {
        let tenant = &saga.tenant_id;
        let pin = pin_of(saga)?;
        let (region, _) = placement_of(store, tenant).await?;
        let mut created = Vec::new();
        if region != pin {
            for source in store.product_databases(tenant).await? {
                let shard = super::place_on_shard(cx, store, pin).await?;
                check_shard_region(store, &shard, pin, tenant).await?;
                let database =
                    moved_database_name(tenant.as_str(), source.product.as_str(), pin.as_str());
                let the_move = DatabaseMove {
                    product: source.product,
                    source: source.placed,
                    source_credentials: source.credentials,
                    target: PlacedDatabase { shard, database },
                };
                store.insert_move(saga.saga_id, tenant, &the_move).await?;
                created.push(the_move);
            }
        }
        let output = StepOutput::new()
            .fact("source_region", region)
            .fact("target_region", pin)
            .with_created(created.iter().map(|m| m.target.database.as_str()));
        Ok(created.iter().fold(output, |output, m| {
            output.with_copy(&m.product, &m.source.database, &m.target.database)
        }))
    }

    async fn complete(
        &self,
        cx: &StepContext,
        _saga: &SagaState,
        output: &StepOutput,
    ) -> Result<(), StepError> {
        for database in output.created() {
            cx.databases.create(&database).await?;
        }
        Ok(())
    }

    async fn compensate(
        &self,
        _cx: &StepContext,
        store: &mut dyn StepStore,
        saga: &SagaState,
    ) -> Result<(), StepError> {
        // Once the moves are deleted a second compensation finds none and
        // leaves the shards' counts alone.
        for the_move in store.moves(saga.saga_id).await? {
            store.add_shard_usage(&the_move.target.shard, -1).await?;
        }
        store.delete_moves(saga.saga_id).await
    }

    async fn compensated(&self, cx: &StepContext, saga: &SagaState) -> Result<(), StepError> {
        let created = saga
            .results
            .get(&Step::CreateTargetDatabases)
            .map(StepOutput::created)
            .unwrap_or_default();
        for database in created {
            cx.databases.drop_database(&database).await?;
        }
        Ok(())
    }
}

/// The region a move saga moves its tenant to: the residency pin.
pub(super) fn pin_of(saga: &SagaState) -> Result<Region, StepError> {
    saga.spec
        .tenant
        .residency_pin
        .ok_or_else(|| StepError::permanent("move saga without a residency pin to move to"))
}

/// The tenant's placement: region, and whether it is a residency pin.
pub(super) async fn placement_of(
    store: &mut dyn StepStore,
    tenant: &TenantId,
) -> Result<(Region, bool), StepError> {
    store.placement(tenant).await?.ok_or_else(|| {
        StepError::permanent(format!(
            "tenant {tenant} has no region: its tenant_created saga has not completed"
        ))
    })
}

/// Data residency fails closed: `shard` must be in `pin`.
pub(super) async fn check_shard_region(
    store: &mut dyn StepStore,
    shard: &str,
    pin: Region,
    tenant: &TenantId,
) -> Result<(), StepError> {
    match store.shard_region(shard).await? {
        Some(region) if region == pin.as_str() => Ok(()),
        other => Err(StepError::permanent(format!(
            "data residency: tenant {tenant} is pinned to {pin} but shard {shard} is in {}; refusing to move there",
            other.as_deref().unwrap_or("no known region")
        ))),
    }
}
