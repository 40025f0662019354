//! Shards: where a full region gets its next one, and the control plane of
//! shards that are servers of their own (RDS instances, [`crate::rds`]).

use std::future::Future;
use std::pin::Pin;

use tenantry_sagas::StepError;
use tenantry_sagas::step_store::StepStore;
use tenantry_sagas::work::Shard;
use tenantry_schemas::Region;

use super::StepContext;

/// Adds a shard to a region when every shard there is full (step 6):
/// `<region>-shard-<number>`, committed on its own, outside the batch — a
/// new database server is a control-plane change, not a row of the batch.
/// Must be idempotent: the same number returns the same shard.
///
/// It is also the control plane of the shards' servers: where a shard is a
/// database server of its own (an RDS instance, [`crate::rds`]), the server
/// is made before its row is written, and a retired database's server is
/// snapshot. The defaults are for shards that are rows only.
pub trait ShardProvisioner: Send + Sync {
    /// Adds (or finds) shard `number` of `region`.
    fn add_shard<'a>(
        &'a self,
        region: &'a str,
        number: usize,
    ) -> Pin<Box<dyn Future<Output = Result<Shard, StepError>> + Send + 'a>>;

    /// Makes sure new shard `shard` of `region` has its server, before a
    /// step writes the shard's row in its own transaction
    /// ([`place_on_shard`]). Idempotent.
    fn ensure_server<'a>(
        &'a self,
        _region: Region,
        _shard: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<(), StepError>> + Send + 'a>> {
        Box::pin(async { Ok(()) })
    }

    /// Takes snapshot `name` of the server of shard `shard` of `region`
    /// (the seed's backups: RDS snapshots) and returns its identifier;
    /// `None` where shards have no server of their own. Idempotent.
    fn snapshot_server<'a>(
        &'a self,
        _region: Region,
        _shard: &'a str,
        _name: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<Option<String>, StepError>> + Send + 'a>> {
        Box::pin(async { Ok(None) })
    }

    /// Deletes server snapshot `name` (a snapshot's undo). Idempotent.
    fn delete_server_snapshot<'a>(
        &'a self,
        _region: Region,
        _name: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<(), StepError>> + Send + 'a>> {
        Box::pin(async { Ok(()) })
    }
}

/// Places a database about to be created on a shard of `region` in
/// `store`'s transaction: one with room, else the region's next shard,
/// whose server ([`ShardProvisioner::ensure_server`]) is made first. The
/// shard's use grows by one; returns its id.
///
/// # Errors
/// The store's; the control plane's.
pub(crate) async fn place_on_shard(
    cx: &StepContext,
    store: &mut dyn StepStore,
    region: Region,
) -> Result<String, StepError> {
    if let Some(shard) = store.take_shard(region).await? {
        return Ok(shard);
    }
    let shard = store.next_shard(region).await?;
    cx.shards.ensure_server(region, &shard).await?;
    store
        .add_shard(&shard, region, cx.config.shard_capacity)
        .await?;
    Ok(shard)
}

/// Shards as rows of the store, each holding `capacity` databases.
pub struct StoreShards {
    /// The store.
    pub store: tenantry_store::Store,
    /// Product databases per new shard.
    pub capacity: i64,
}

impl ShardProvisioner for StoreShards {
    fn add_shard<'a>(
        &'a self,
        region: &'a str,
        number: usize,
    ) -> Pin<Box<dyn Future<Output = Result<Shard, StepError>> + Send + 'a>> {
        Box::pin(async move {
            self.store
                .add_shard(region, number, self.capacity)
                .await
                .map_err(StepError::from)
        })
    }
}
