//! Move: the tenant now lives in the pinned region. Its placement becomes
//! the pin (pinned), and each product moved by this saga points at its
//! target — shard and database — with new credentials sealed under the
//! tenant's data key (DESIGN.md, "Envelope encryption") in the same
//! transaction, so the tenant context never shows a moved database without
//! credentials; the source shard gets its room back. The output keeps the
//! placement before the move and each product's new place.
//!
//! Data residency fails closed: a target shard outside the pin fails the
//! step (permanently) and nothing is written.
//!
//! A pivot: once the tenant lives in the new region a failed retirement of
//! the old databases must not move it back onto them, so the step is never
//! undone.

use super::create_target_databases::{check_shard_region, pin_of, placement_of};
use super::{StepContext, StepHandler, sealed_credentials};
use async_trait::async_trait;
use tenantry_sagas::output::Placed;
use tenantry_sagas::step_store::StepStore;
use tenantry_sagas::{SagaState, StepError, StepOutput};

/// Switches a moved tenant to its target databases and region.
pub(super) struct SwitchPlacement;

#[async_trait]
impl StepHandler for SwitchPlacement {
    async fn execute(
        &self,
        cx: &StepContext,
        store: &mut dyn StepStore,
        saga: &SagaState,
    ) -> Result<StepOutput, StepError> {
        let tenant = &saga.tenant_id;
        let pin = pin_of(saga)?;
        let (source_region, source_pinned) = placement_of(store, tenant).await?;
        store.set_placement(tenant, pin, true).await?;
        let mut output = StepOutput::new()
            .with_region(pin, true)
            .with_source_placement(source_region, source_pinned);
        for the_move in store.moves(saga.saga_id).await? {
            let target = &the_move.target;
            check_shard_region(store, &target.shard, pin, tenant).await?;
            store
                .point_product_database(tenant, &the_move.product, target, None)
                .await?;
            store.add_shard_usage(&the_move.source.shard, -1).await?;
            let sealed = sealed_credentials(cx, saga, &target.shard, &target.database).await?;
            store.store_credentials(&target.database, &sealed).await?;
            let placed = Placed {
                shard: target.shard.clone(),
                database: target.database.clone(),
            };
            output = output.with_moved(&the_move.product, &placed);
        }
        Ok(output)
    }
}
