//! Shards as Amazon RDS instances: the control plane of product databases.
//!
//! The seed's architecture ("Shards on RDS") puts product databases on
//! shards, each a PostgreSQL RDS instance in one data-residency region,
//! Multi-AZ and encrypted at rest. [`RdsShards`] is that control plane:
//!
//! - [`RdsShards::ensure_instance`]: the instance of a shard, found or
//!   created (`CreateDBInstance`) under a deterministic identifier
//!   ([`instance_identifier`]), so a retried step never creates two; then a
//!   bounded wait for `available`.
//! - [`RdsShards::snapshot`] / [`RdsShards::delete_snapshot`]: a snapshot of
//!   a shard's instance (`CreateDBSnapshot`), again under a deterministic
//!   identifier.
//! - [`RdsShards::storage_key`]: the KMS key a region's instances are
//!   encrypted under, alias `alias/tenantry/rds/<region>` in that region,
//!   created when missing.
//!
//! Each Tenantry region maps to one AWS region ([`aws_region`]); clients
//! are made per AWS region with the region, endpoint and static
//! credentials of [`RdsConfig`], so the SDK never probes instance metadata.
//!
//! The data plane (the schema inside an instance) is not here: it is
//! reached by a PostgreSQL URL, which on the local stack maps every
//! instance endpoint to the local server (README, "Shards on RDS").

mod config;
mod error;
mod identifiers;
mod instances;
mod keys;

pub use config::{InstanceSpec, MissingEnv, RdsConfig};
pub use error::RdsError;
pub use identifiers::{aws_region, instance_identifier, snapshot_identifier};
pub use instances::{RdsShards, ShardInstance};
