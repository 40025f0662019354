//! Shards on RDS (`--shard-provider rds`): each shard an RDS instance in
//! its region, made by the control plane ([`tenantry_rds::RdsShards`]);
//! the product databases inside the instances reached through one
//! PostgreSQL data plane.
//!
//! On the local stack the control plane is the AWS emulator's RDS API (real
//! `CreateDBInstance`, `CreateDBSnapshot` calls) and the data plane maps
//! every instance endpoint to the local PostgreSQL server by configuration
//! (`--rds-data-plane`): an instance there is a record, not a server.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use tenantry_rds::{RdsError, RdsShards};
use tenantry_sagas::StepError;
use tenantry_sagas::work::Shard;
use tenantry_schemas::Region;
use tenantry_store::{ProductDatabases, StoreError};

use crate::steps::{DatabaseServers, ShardProvisioner, StoreShards};

/// Shards as RDS instances, their rows in the store: a new shard's instance
/// is made (or found) and `available` before its row is written.
pub struct RdsStoreShards {
    /// The rows, and the capacity of a new shard.
    pub rows: StoreShards,
    /// The control plane.
    pub rds: Arc<RdsShards>,
}

/// An RDS error as a step's: RDS not answering, throttling, or a resource
/// still on its way is an outage the step waits out; a refusal is
/// permanent.
pub fn step_error(error: RdsError) -> StepError {
    if error.is_retryable() {
        StepError::unavailable(error.to_string())
    } else {
        StepError::permanent(error.to_string())
    }
}

type Boxed<'a, T> = Pin<Box<dyn Future<Output = Result<T, StepError>> + Send + 'a>>;

impl ShardProvisioner for RdsStoreShards {
    fn add_shard<'a>(&'a self, region: &'a str, number: usize) -> Boxed<'a, Shard> {
        Box::pin(async move {
            let parsed = Region::parse(region, "shards.region")
                .map_err(|e| StepError::permanent(e.to_string()))?;
            let shard = format!("{region}-shard-{number}");
            self.rds
                .ensure_instance(parsed, &shard, self.rows.capacity)
                .await
                .map_err(step_error)?;
            self.rows.add_shard(region, number).await
        })
    }

    fn ensure_server<'a>(&'a self, region: Region, shard: &'a str) -> Boxed<'a, ()> {
        Box::pin(async move {
            self.rds
                .ensure_instance(region, shard, self.rows.capacity)
                .await
                .map_err(step_error)?;
            Ok(())
        })
    }

    fn snapshot_server<'a>(
        &'a self,
        region: Region,
        shard: &'a str,
        name: &'a str,
    ) -> Boxed<'a, Option<String>> {
        Box::pin(async move {
            let id = self
                .rds
                .snapshot(region, shard, name)
                .await
                .map_err(step_error)?;
            Ok(Some(id))
        })
    }

    fn delete_server_snapshot<'a>(&'a self, region: Region, name: &'a str) -> Boxed<'a, ()> {
        Box::pin(async move {
            self.rds
                .delete_snapshot(region, name)
                .await
                .map_err(step_error)
        })
    }
}

/// Product databases on a server that is not the store's: every DDL runs
/// after the step's rows commit, never in the store's transaction.
pub struct DataPlane(pub ProductDatabases);

#[async_trait]
impl DatabaseServers for DataPlane {
    fn transactional(&self) -> bool {
        false
    }

    async fn create(&self, name: &str) -> Result<(), StoreError> {
        self.0.create(name).await
    }

    async fn drop_database(&self, name: &str) -> Result<(), StoreError> {
        self.0.drop_database(name).await
    }

    async fn snapshot(&self, source: &str, snapshot: &str) -> Result<(), StoreError> {
        self.0.snapshot(source, snapshot).await
    }

    async fn archive(&self, name: &str) -> Result<(), StoreError> {
        self.0.archive(name).await
    }

    async fn copy_into(&self, source: &str, target: &str) -> Result<usize, StoreError> {
        self.0.copy_into(source, target).await
    }
}
