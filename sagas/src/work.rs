//! A batch's unit of work as data: what it reads before it runs
//! ([`Loaded`], asked for by [`Keys`]) and everything it writes ([`Changes`]).
//!
//! The provisioner handles the commerce records a worker holds by loading
//! what they need in one read per table, deciding everything in memory
//! (admission, desired state, sagas and their steps), and handing the
//! [`Changes`] to the store, which writes them per table in one statement and
//! commits once ([`crate::ports::BatchStore`]). The rows here are the local
//! stand-ins of the systems the seven steps provision (seed, "Tenant
//! provisioning and lifecycle"): accounts, licences, sites, placement,
//! metadata, identity, product databases on shards, installed apps.

use crate::admission::ParkKind;
use crate::saga::SagaState;
use crate::tenant::TenantRecord;
use std::collections::{BTreeMap, BTreeSet};
use tenantry_schemas::{CommerceRecord, ProductKey, Region, TenantId, TenantState};
use uuid::Uuid;

/// What a batch needs read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keys {
    /// Tenants of the batch's records.
    pub tenants: BTreeSet<TenantId>,
    /// Event ids of the batch's records (dedup).
    pub event_ids: BTreeSet<Uuid>,
    /// Site hosts the batch's `tenant_created` events ask for.
    pub hosts: BTreeSet<String>,
}

/// A commerce event already in a tenant's event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Its commerce sequence.
    pub sequence: i64,
    /// Its kind (`tenant_created`, …).
    pub kind: String,
}

/// A host released by a destroyed tenant (`released_hosts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleasedHost {
    /// The destroyed tenant.
    pub tenant_id: TenantId,
    /// Unix ms after which another tenant may take the host.
    pub reusable_after_ms: i64,
}

/// A shard: a database server in a region holding product databases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    /// `<region>-shard-<n>`.
    pub shard_id: String,
    /// Its region code.
    pub region: String,
    /// Databases it should hold at most (a target, not a hard limit).
    pub capacity: i64,
    /// Databases placed on it.
    pub used: i64,
}

/// A placed product database (`product_databases`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedDatabase {
    /// Shard id.
    pub shard: String,
    /// Database name on the shard.
    pub database: String,
}

/// What the store holds for a batch's [`Keys`], as of the batch's start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Loaded {
    /// Tenant records; a tenant without one starts from the default.
    pub records: BTreeMap<TenantId, TenantRecord>,
    /// The batch's event ids already recorded, with what they identified.
    pub recorded: BTreeMap<Uuid, RecordedEvent>,
    /// Tenants with commerce events waiting in their stream.
    pub waiting: BTreeSet<TenantId>,
    /// Site host → owning tenant, for the asked hosts and the asked tenants' sites.
    pub sites: BTreeMap<String, TenantId>,
    /// Released hosts among the asked ones.
    pub released_hosts: BTreeMap<String, ReleasedHost>,
    /// The hosts asked for ([`Keys::hosts`]): `sites` and `released_hosts`
    /// are complete for these only.
    pub hosts_asked: BTreeSet<String>,
    /// The asked tenants' placements: region and whether it is a residency pin.
    pub placements: BTreeMap<TenantId, (Region, bool)>,
    /// The asked tenants' product databases.
    pub databases: BTreeMap<(TenantId, ProductKey), PlacedDatabase>,
    /// The asked tenants' identity groups.
    pub groups: BTreeMap<TenantId, BTreeSet<String>>,
    /// The shards with room, by id.
    pub shards: Vec<Shard>,
    /// Shards per region, full ones included (the next shard's number).
    pub shard_counts: BTreeMap<String, usize>,
    /// The asked tenants' last provisioning sequence (of the records the
    /// outbox holds for them), so that a commit allocates the next ones
    /// without reading them again; a tenant without one has none yet.
    pub provisioning_sequences: BTreeMap<TenantId, i64>,
    /// The loading process's clock, Unix ms.
    pub now_ms: i64,
}

/// Where a commerce record was read (for the event stream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSource {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
}

/// How a commerce event was recorded in the tenant's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventState {
    /// Released to the desired state (applied or rejected).
    Processed,
    /// Not newer than the released sequence: no effect.
    Stale,
    /// Held behind a parking or a gap.
    Waiting,
}

impl EventState {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventState::Processed => "processed",
            EventState::Stale => "stale",
            EventState::Waiting => "waiting",
        }
    }

    /// The state named `name` (the inverse of [`EventState::as_str`]).
    pub fn parse(name: &str) -> Option<Self> {
        [
            EventState::Processed,
            EventState::Stale,
            EventState::Waiting,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }
}

/// A parked tenant's row (`parked_tenants`): why its events wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedTenant {
    /// The tenant.
    pub tenant_id: TenantId,
    /// Saga failed or sequence gap.
    pub kind: ParkKind,
    /// Operator-facing reason.
    pub reason: String,
    /// The failed saga, for [`ParkKind::SagaFailed`].
    pub saga_id: Option<Uuid>,
    /// The event the tenant is parked at (a failed saga's trigger, or the
    /// event after a gap).
    pub event_id: Option<Uuid>,
}

/// A tenant's waiting commerce events: how many, and the highest sequence
/// among them (0 when none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WaitingEvents {
    /// Events in state `waiting`.
    pub count: i64,
    /// Their highest commerce sequence; 0 when none waits.
    pub last_sequence: i64,
}

/// A commerce event to record (dedup row and event stream).
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// The event.
    pub record: CommerceRecord,
    /// Where it was read.
    pub source: EventSource,
    /// How it was recorded.
    pub state: EventState,
}

/// Rows of the local stand-ins of the provisioned systems, written by the
/// steps ([`crate::Step`]); each table is keyed so that writing a row twice
/// changes nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EffectRows {
    /// `tenant_accounts`: (tenant, owner email, country, residency pin) — step 1.
    pub accounts: Vec<(TenantId, String, String, Option<String>)>,
    /// `licences`: (tenant, product, edition, seats) — step 1 of a product.
    pub licences: Vec<(TenantId, ProductKey, String, i32)>,
    /// `sites`: (host, tenant, site) — step 2.
    pub sites: Vec<(String, TenantId, String)>,
    /// Hosts whose `released_hosts` row a new owner clears — step 2.
    pub reclaimed_hosts: Vec<String>,
    /// `site_products`: (tenant, product), state active — step 2 of a product.
    pub site_products: Vec<(TenantId, ProductKey)>,
    /// `placements`: (tenant, region, pinned) — step 3.
    pub placements: Vec<(TenantId, String, bool)>,
    /// `site_metadata`: (tenant, scope, config JSON) — step 4.
    pub metadata: Vec<(TenantId, String, String)>,
    /// `identity_users`: (tenant, user id, email) — step 5.
    pub users: Vec<(TenantId, String, String)>,
    /// `identity_groups`: (tenant, group) — step 5.
    pub groups: Vec<(TenantId, String)>,
    /// `identity_group_permissions`: (tenant, group, permission) — step 5.
    pub permissions: Vec<(TenantId, String, String)>,
    /// `identity_group_members`: (tenant, group, user id) — step 5.
    pub members: Vec<(TenantId, String, String)>,
    /// `product_databases`: (tenant, product, shard, database, sealed
    /// credentials hex) — step 6.
    pub databases: Vec<(TenantId, ProductKey, String, String, String)>,
    /// Product databases to create (step 6), by name, in one round trip.
    pub create_databases: Vec<String>,
    /// Databases placed per shard, added to its `used` count — step 6.
    pub shard_usage: BTreeMap<String, i64>,
    /// `installed_apps`: (tenant, product, app) — step 7.
    pub installed_apps: Vec<(TenantId, ProductKey, String)>,
}

/// Everything one unit of work writes, committed at once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// Commerce events recorded (dedup rows and event stream).
    pub events: Vec<NewEvent>,
    /// Released events the guards refused: (event id, tenant, reason).
    pub rejections: Vec<(Uuid, TenantId, String)>,
    /// Tenant records to store.
    pub records: BTreeMap<TenantId, TenantRecord>,
    /// Tenant states to publish (outbox), for the tenants whose state changed.
    pub states: BTreeMap<TenantId, TenantState>,
    /// For the tenants of `states`: their last provisioning sequence as
    /// loaded ([`Loaded::provisioning_sequences`], 0 when none). The commit
    /// publishes each state under the next one, and conflicts when another
    /// writer took it meanwhile; without an entry the store allocates it.
    pub provisioning_sequences: BTreeMap<TenantId, i64>,
    /// For tenants of `states`: the W3C `traceparent` of the commerce
    /// record that changed the state last, stored with its outbox row (see
    /// [`crate::ports::OutboxRecord::traceparent`]); without an entry the
    /// store takes the current span's.
    pub traceparents: BTreeMap<TenantId, String>,
    /// Sagas, inserted in their final state (they ran to their end here).
    pub sagas: Vec<SagaState>,
    /// Step effects.
    pub effects: EffectRows,
}

impl Changes {
    /// Whether nothing is to be written.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.records.is_empty() && self.sagas.is_empty()
    }
}

/// How a commit ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Committed {
    /// Everything was written.
    Done,
    /// Nothing was written: a row the unit of work counted on being new
    /// (an event id, a saga id, a site host) was written by someone else
    /// since it loaded. The reason names the row.
    Conflict(String),
}
