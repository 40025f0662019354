//! Deactivation: a snapshot of the product database (the seed's backups,
//! "Data backups": RDS snapshots), named `snap_<database>_<saga>`
//! ([`super::snapshot_name`]). Its `database_snapshots` row is written with
//! the step; the snapshot itself is taken after that commits (DDL is not
//! transactional), and taken again when a retry finds the step recorded —
//! an existing snapshot is kept. A product without a database has nothing
//! to snapshot.
//!
//! Where shards are servers of their own (RDS instances), the server of
//! the database's shard is snapshot too (`CreateDBSnapshot`, under the
//! same name), after the database's own copy.
//!
//! Undone by deleting the row, then dropping the snapshot (and deleting
//! the server's).

use super::{StepContext, StepHandler, product_of, snapshot_name};
use async_trait::async_trait;
use std::time::Duration;
use tenantry_sagas::step_store::StepStore;
use tenantry_sagas::{SagaState, Step, StepError, StepOutput, StepPolicy};
use tenantry_schemas::{ProductKey, Region};

/// Snapshots a deactivated product's database.
pub(super) struct SnapshotDatabase;

#[async_trait]
impl StepHandler for SnapshotDatabase {
    /// A snapshot copies the database: 60 s per attempt.
    fn policy(&self) -> StepPolicy {
        StepPolicy::with_timeout(Duration::from_secs(60))
    }

    async fn execute(
        &self,
        _cx: &StepContext,
        store: &mut dyn StepStore,
        saga: &SagaState,
    ) -> Result<StepOutput, StepError> {
        let product = &product_of(saga)?.product;
        let database = deactivated_database(store, saga, product).await?;
        let snapshot = snapshot_name(&database, saga);
        let mut output = StepOutput::new().with_snapshot(&snapshot, &database);
        if !database.is_empty() {
            store
                .insert_snapshot(&snapshot, &saga.tenant_id, product, &database)
                .await?;
            if let Some(shard) = shard_of(store, saga, product).await? {
                output = output.with_snapshot_shard(shard.0, shard.1);
            }
        }
        Ok(output)
    }

    async fn complete(
        &self,
        cx: &StepContext,
        _saga: &SagaState,
        output: &StepOutput,
    ) -> Result<(), StepError> {
        if let Some((snapshot, of)) = output.snapshot() {
            cx.databases.snapshot(of, snapshot).await?;
            if let Some((shard, region)) = output.snapshot_shard() {
                cx.shards.snapshot_server(region, shard, snapshot).await?;
            }
        }
        Ok(())
    }

    async fn compensate(
        &self,
        _cx: &StepContext,
        store: &mut dyn StepStore,
        saga: &SagaState,
    ) -> Result<(), StepError> {
        if let Some(snapshot) = recorded_snapshot(saga) {
            store.delete_snapshot(snapshot).await?;
        }
        Ok(())
    }

    async fn compensated(&self, cx: &StepContext, saga: &SagaState) -> Result<(), StepError> {
        if let Some(snapshot) = recorded_snapshot(saga) {
            cx.databases.drop_database(snapshot).await?;
            let recorded = saga.results.get(&Step::SnapshotDatabase);
            if let Some((_, region)) = recorded.and_then(StepOutput::snapshot_shard) {
                cx.shards.delete_server_snapshot(region, snapshot).await?;
            }
        }
        Ok(())
    }
}

/// The shard (and its region) of the product's database, while its row is
/// there; a retry after the database was retired records none.
async fn shard_of(
    store: &mut dyn StepStore,
    saga: &SagaState,
    product: &ProductKey,
) -> Result<Option<(String, Region)>, StepError> {
    let Some(placed) = store.product_database(&saga.tenant_id, product).await? else {
        return Ok(None);
    };
    let region = store.shard_region(&placed.shard).await?;
    Ok(region
        .and_then(|r| Region::parse(&r, "shards.region").ok())
        .map(|region| (placed.shard, region)))
}

/// The name the step gave its snapshot, taken or not.
fn recorded_snapshot(saga: &SagaState) -> Option<&str> {
    saga.results
        .get(&Step::SnapshotDatabase)
        .and_then(StepOutput::snapshot_name)
}

/// The database a deactivation snapshots and retires: the product's, else
/// (its row already gone) the one this saga's snapshot was taken of, else
/// none (the empty name).
pub(super) async fn deactivated_database(
    store: &mut dyn StepStore,
    saga: &SagaState,
    product: &ProductKey,
) -> Result<String, StepError> {
    if let Some(placed) = store.product_database(&saga.tenant_id, product).await? {
        return Ok(placed.database);
    }
    Ok(saga
        .results
        .get(&Step::SnapshotDatabase)
        .and_then(StepOutput::snapshot)
        .map(|(_, of)| of.to_owned())
        .unwrap_or_default())
}
