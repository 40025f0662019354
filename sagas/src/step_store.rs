//! The rows a step writes on its own path, one saga step at a time
//! ([`StepStore`]): the local stand-ins of the systems the steps provision
//! (seed, "Tenant provisioning and lifecycle") — accounts, licences, sites,
//! placement, metadata, identity, product databases on shards, installed
//! apps, snapshots, database moves — and the record of each step's effect
//! under its idempotency key.
//!
//! The operations are per table and know nothing of steps: what a step
//! writes, in which order, and how it is undone is the step's (the
//! provisioner's `steps` module, a file per step). Every write is keyed by
//! its natural key: writing a row twice changes nothing (apart from the
//! two inserts that say otherwise) and deleting a missing row is a no-op. All of them run in one transaction of the store,
//! which the caller commits.

use crate::output::StepOutput;
use crate::ports::StepError;
use crate::work::{PlacedDatabase, ReleasedHost};
use async_trait::async_trait;
use std::collections::BTreeSet;
use tenantry_schemas::{AppKey, ProductKey, Region, TenantId};
use uuid::Uuid;

/// A product's licence (`licences`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenceRow {
    /// Edition (`free`, `standard`, `premium`, `enterprise`).
    pub edition: String,
    /// Licensed seats.
    pub seats: i32,
}

/// A product database and its sealed credentials (hex), when sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductDatabaseRow {
    /// The product.
    pub product: ProductKey,
    /// Where it lives.
    pub placed: PlacedDatabase,
    /// Its credentials sealed under the tenant's data key, hex.
    pub credentials: Option<String>,
}

/// One product database a move saga copies to another region
/// (`database_moves`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseMove {
    /// The product.
    pub product: ProductKey,
    /// Where it lived before the move.
    pub source: PlacedDatabase,
    /// Its credentials before the move (restored when the switch is undone).
    pub source_credentials: Option<String>,
    /// Where it lives after the move.
    pub target: PlacedDatabase,
}

/// One transaction of the store, as the steps' per-record path sees it:
/// every group of rows below. Errors are [`StepError`]s: a lost connection
/// or a conflict is retryable, anything else permanent.
pub trait StepStore: EffectRecords + TenantRows + IdentityRows + DatabaseRows {}

impl<T: EffectRecords + TenantRows + IdentityRows + DatabaseRows> StepStore for T {}

/// The record of a step's effect under its idempotency key
/// (`<saga id>:<step>`): a step found recorded is not run again.
#[async_trait]
pub trait EffectRecords: Send {
    /// The output recorded under a step's idempotency key, if its effect
    /// already happened.
    async fn recorded_effect(&mut self, key: &str) -> Result<Option<StepOutput>, StepError>;
    /// Records a step's output under its idempotency key.
    async fn record_effect(&mut self, key: &str, output: &StepOutput) -> Result<(), StepError>;
    /// Forgets a step's recorded effect (it was compensated).
    async fn forget_effect(&mut self, key: &str) -> Result<(), StepError>;
}

/// What a tenant has and may use: its account, licences, site and host,
/// products on the site, placement, metadata and installed apps.
#[async_trait]
pub trait TenantRows: Send {
    /// Inserts the tenant's account, unless it has one.
    async fn insert_account(
        &mut self,
        tenant: &TenantId,
        owner_email: &str,
        country: &str,
        pin: Option<Region>,
    ) -> Result<(), StepError>;
    /// Deletes the tenant's account.
    async fn delete_account(&mut self, tenant: &TenantId) -> Result<(), StepError>;
    /// The product's licence.
    async fn licence(
        &mut self,
        tenant: &TenantId,
        product: &ProductKey,
    ) -> Result<Option<LicenceRow>, StepError>;
    /// Inserts the product's licence, or replaces its edition and seats.
    async fn put_licence(
        &mut self,
        tenant: &TenantId,
        product: &ProductKey,
        licence: &LicenceRow,
    ) -> Result<(), StepError>;
    /// Changes an existing licence's edition and seats, and whether fewer
    /// seats than users are licensed (nothing when there is no licence).
    async fn update_licence(
        &mut self,
        tenant: &TenantId,
        product: &ProductKey,
        licence: &LicenceRow,
        over_licence: bool,
    ) -> Result<(), StepError>;
    /// Deletes the product's licence.
    async fn delete_licence(
        &mut self,
        tenant: &TenantId,
        product: &ProductKey,
    ) -> Result<(), StepError>;
    /// The tenant's site host.
    async fn site_host(&mut self, tenant: &TenantId) -> Result<Option<String>, StepError>;
    /// The tenant owning `host`.
    async fn host_owner(&mut self, host: &str) -> Result<Option<TenantId>, StepError>;
    /// Inserts the site `host` of `tenant`; false when the host, or a site
    /// of the tenant, exists already (nothing is written then).
    async fn insert_site(
        &mut self,
        host: &str,
        tenant: &TenantId,
        site: &str,
    ) -> Result<bool, StepError>;
    /// Deletes the tenant's site.
    async fn delete_site(&mut self, tenant: &TenantId) -> Result<(), StepError>;
    /// A host released by a destroyed tenant, while it is recorded.
    async fn released_host(&mut self, host: &str) -> Result<Option<ReleasedHost>, StepError>;
    /// Records `host` as released by `tenant`, reusable after the given Unix ms.
    async fn release_host(
        &mut self,
        host: &str,
        tenant: &TenantId,
        released_at_ms: i64,
        reusable_after_ms: i64,
    ) -> Result<(), StepError>;
    /// Clears the release of `host` (a new owner took it).
    async fn reclaim_host(&mut self, host: &str) -> Result<(), StepError>;
    /// Activates the product on the tenant's site (inserted, or set active).
    async fn activate_site_product(
        &mut self,
        tenant: &TenantId,
        product: &ProductKey,
    ) -> Result<(), StepError>;
    /// Sets an existing site product active or suspended.
    async fn set_site_product_active(
        &mut self,
        tenant: &TenantId,
        product: &ProductKey,
        active: bool,
    ) -> Result<(), StepError>;
    /// Deletes the product from the tenant's site.
    async fn delete_site_product(
        &mut self,
        tenant: &TenantId,
        product: &ProductKey,
    ) -> Result<(), StepError>;
    /// The tenant's placement: region, and whether it is a residency pin.
    async fn placement(&mut self, tenant: &TenantId) -> Result<Option<(Region, bool)>, StepError>;
    /// Inserts the tenant's placement unless it has one.
    async fn insert_placement(
        &mut self,
        tenant: &TenantId,
        region: Region,
        pinned: bool,
    ) -> Result<(), StepError>;
    /// Changes the tenant's placement.
    async fn set_placement(
        &mut self,
        tenant: &TenantId,
        region: Region,
        pinned: bool,
    ) -> Result<(), StepError>;
    /// Deletes the tenant's placement.
    async fn delete_placement(&mut self, tenant: &TenantId) -> Result<(), StepError>;
    /// Inserts metadata of `scope` (`site`, `product:<key>`) unless it exists.
    async fn insert_metadata(
        &mut self,
        tenant: &TenantId,
        scope: &str,
        config: &serde_json::Value,
    ) -> Result<(), StepError>;
    /// Deletes metadata of `scope`.
    async fn delete_metadata(&mut self, tenant: &TenantId, scope: &str) -> Result<(), StepError>;
    /// Records apps as installed for the product.
    async fn insert_installed_apps(
        &mut self,
        tenant: &TenantId,
        product: &ProductKey,
        apps: &[AppKey],
    ) -> Result<(), StepError>;
    /// Deletes the product's installed apps.
    async fn delete_installed_apps(
        &mut self,
        tenant: &TenantId,
        product: &ProductKey,
    ) -> Result<(), StepError>;
}

/// A tenant's identity data: users, groups, their permissions and members.
#[async_trait]
pub trait IdentityRows: Send {
    /// Inserts a user unless it exists.
    async fn insert_user(
        &mut self,
        tenant: &TenantId,
        user_id: &str,
        email: &str,
    ) -> Result<(), StepError>;
    /// Inserts a group unless it exists.
    async fn insert_group(&mut self, tenant: &TenantId, group: &str) -> Result<(), StepError>;
    /// Grants `permissions` to a group (existing grants stay).
    async fn grant(
        &mut self,
        tenant: &TenantId,
        group: &str,
        permissions: &[String],
    ) -> Result<(), StepError>;
    /// Revokes a permission of a group.
    async fn revoke(
        &mut self,
        tenant: &TenantId,
        group: &str,
        permission: &str,
    ) -> Result<(), StepError>;
    /// Adds users to a group (existing members stay).
    async fn add_members(
        &mut self,
        tenant: &TenantId,
        group: &str,
        users: &[String],
    ) -> Result<(), StepError>;
    /// A group's members, ordered.
    async fn members(&mut self, tenant: &TenantId, group: &str) -> Result<Vec<String>, StepError>;
    /// The tenant's groups.
    async fn groups(&mut self, tenant: &TenantId) -> Result<BTreeSet<String>, StepError>;
    /// Deletes a group with its permissions and memberships.
    async fn delete_group(&mut self, tenant: &TenantId, group: &str) -> Result<(), StepError>;
    /// Deletes the tenant's identity data: users, groups, permissions,
    /// memberships.
    async fn delete_identity(&mut self, tenant: &TenantId) -> Result<(), StepError>;
}

/// Where a tenant's data lives: product databases on shards, their sealed
/// credentials, snapshots, and the moves to another region.
#[async_trait]
pub trait DatabaseRows: Send {
    /// The product's database.
    async fn product_database(
        &mut self,
        tenant: &TenantId,
        product: &ProductKey,
    ) -> Result<Option<PlacedDatabase>, StepError>;
    /// The tenant's product databases, by product.
    async fn product_databases(
        &mut self,
        tenant: &TenantId,
    ) -> Result<Vec<ProductDatabaseRow>, StepError>;
    /// Inserts the product's database (without credentials); fails
    /// (retryable) when the product has one: the caller looks first, so
    /// a conflict means another writer placed it meanwhile.
    async fn insert_product_database(
        &mut self,
        tenant: &TenantId,
        product: &ProductKey,
        placed: &PlacedDatabase,
    ) -> Result<(), StepError>;
    /// Points the product at another database, with its credentials.
    async fn point_product_database(
        &mut self,
        tenant: &TenantId,
        product: &ProductKey,
        placed: &PlacedDatabase,
        credentials: Option<&str>,
    ) -> Result<(), StepError>;
    /// Stores sealed credentials (hex) with `database`, unless it has some.
    async fn store_credentials(&mut self, database: &str, sealed: &str) -> Result<(), StepError>;
    /// Deletes the product's database row.
    async fn delete_product_database(
        &mut self,
        tenant: &TenantId,
        product: &ProductKey,
    ) -> Result<(), StepError>;
    /// Creates the product database `name` in this transaction, when
    /// product databases are schemas of the store (transactional DDL);
    /// fails permanently otherwise.
    async fn create_database(&mut self, name: &str) -> Result<(), StepError>;
    /// A shard of `region` with room, its use grown by the database about
    /// to be placed; `None` when every shard of the region is full, or it
    /// has none.
    async fn take_shard(&mut self, region: Region) -> Result<Option<String>, StepError>;
    /// The id `region`'s next shard gets: `<region>-shard-<n + 1>` when it
    /// has `n`.
    async fn next_shard(&mut self, region: Region) -> Result<String, StepError>;
    /// Adds shard `shard` of `region`, holding `capacity` databases, with
    /// the database about to be placed on it (used 1). When another worker
    /// added it first, the database is counted on that shard.
    async fn add_shard(
        &mut self,
        shard: &str,
        region: Region,
        capacity: i64,
    ) -> Result<(), StepError>;
    /// Adds `delta` to a shard's databases placed.
    async fn add_shard_usage(&mut self, shard: &str, delta: i64) -> Result<(), StepError>;
    /// A shard's region.
    async fn shard_region(&mut self, shard: &str) -> Result<Option<String>, StepError>;
    /// Records a snapshot `name` of the product's `database`.
    async fn insert_snapshot(
        &mut self,
        name: &str,
        tenant: &TenantId,
        product: &ProductKey,
        database: &str,
    ) -> Result<(), StepError>;
    /// Deletes the record of snapshot `name`.
    async fn delete_snapshot(&mut self, name: &str) -> Result<(), StepError>;
    /// Records a database move of `saga`; fails (retryable) when the
    /// saga has one for the product.
    async fn insert_move(
        &mut self,
        saga: Uuid,
        tenant: &TenantId,
        the_move: &DatabaseMove,
    ) -> Result<(), StepError>;
    /// The database moves of `saga`, by product.
    async fn moves(&mut self, saga: Uuid) -> Result<Vec<DatabaseMove>, StepError>;
    /// Deletes the database moves of `saga`.
    async fn delete_moves(&mut self, saga: Uuid) -> Result<(), StepError>;
}
