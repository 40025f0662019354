//! Move: the tenant now lives in the pinned region. Its placement becomes
//! the pin (pinned), and each product moved by this saga points at its
//! target — shard and database — with new credentials sealed under the
//! tenant's data key (DESIGN.md, "Envelope encryption") in the same
//! transaction (sealed before its first write, so no row stays locked
//! across the key service's calls), so the tenant context never shows a
//! moved database without credentials; the source shards get their room
//! back, last and in shard order. The output keeps the
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
use std::collections::BTreeMap;
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
        let moves = store.moves(saga.saga_id).await?;
        // Reads and the key service first: no row is locked while the
        // credentials are sealed.
        let mut sealed = Vec::with_capacity(moves.len());
        for the_move in &moves {
            let target = &the_move.target;
            check_shard_region(store, &target.shard, pin, tenant).await?;
            sealed.push(sealed_credentials(cx, saga, &target.shard, &target.database).await?);
        }
        store.set_placement(tenant, pin, true).await?;
        let mut output = StepOutput::new()
            .with_region(pin, true)
            .with_source_placement(source_region, source_pinned);
        let mut freed: BTreeMap<&str, i64> = BTreeMap::new();
        for (the_move, sealed) in moves.iter().zip(&sealed) {
            let target = &the_move.target;
            store
                .point_product_database(tenant, &the_move.product, target, Some(sealed))
                .await?;
            *freed.entry(the_move.source.shard.as_str()).or_default() -= 1;
            let placed = Placed {
                shard: target.shard.clone(),
                database: target.database.clone(),
            };
            output = output.with_moved(&the_move.product, &placed);
        }
        // Shards last and in id order, as every writer takes their row
        // locks, so two moves never deadlock on each other's shards.
        for (shard, delta) in freed {
            store.add_shard_usage(shard, delta).await?;
        }
        Ok(output)
    }
}
