//! The provisioner's store in memory: [`MemoryStore`] implements
//! [`ProvisionerStore`] and [`tenantry_sagas::BatchStore`] with no database,
//! for the provisioner's unit tests; the conformance suite
//! (`tests/conformance`) holds it to the same contracts as PostgreSQL and
//! SQLite. [`MemoryContexts`] is the tenant context store in memory.
//!
//! The tables sit behind one [`std::sync::Mutex`] (held for a copy or an
//! apply, never across an `.await`). A unit of work ([`MemoryWork`]) reads a
//! copy of the tables taken when it begins, applies its writes to that copy
//! (so it reads them back) and logs them; [`tenantry_sagas::UnitOfWork::commit`] checks the
//! log against the tables as they are then and applies all of it, or none:
//!
//! - dedup and inserts of new rows (event ids, saga ids): a row another unit
//!   of work committed since this one began fails the commit, where the
//!   database would have made the later insert a no-op after the first
//!   committed — either way the row is written once;
//! - compare-and-set: checked when called, against the copy, and again at
//!   commit, against the tables; a lost one is a stale error.
//!
//! Only the rows the provisioner reads back are kept: the step effects'
//! tables that no load or query reads (accounts, licences, metadata, users,
//! permissions, members, installed apps) are not.

mod batch;
mod contexts;
mod work;

pub use contexts::MemoryContexts;
pub use work::MemoryWork;

use crate::parking::Requested;
use crate::store::{StoreError, now_ms};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use tenantry_sagas::admission::OperatorAction;
use tenantry_sagas::work::{
    EventSource, EventState, ParkedTenant, PlacedDatabase, ReleasedHost, Shard,
};
use tenantry_sagas::{
    OutboxClaim, OutboxRecord, OutboxStore, ProvisionerStore, SagaState, SagaStatus, TenantRecord,
};
use tenantry_schemas::{
    CommerceRecord, ProductKey, ProvisioningRecord, Region, TenantId, TenantState,
};
use uuid::Uuid;

/// The provisioner's store in memory. Clones share the tables.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    tables: Arc<Mutex<Tables>>,
}

/// Every table, by key.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tables {
    /// Orders rows as the database's insertion times and ids do.
    pub(crate) clock: u64,
    /// `processed_events`: event id → tenant.
    pub(crate) processed: BTreeMap<Uuid, TenantId>,
    /// `tenant_events`, by event id.
    pub(crate) events: BTreeMap<Uuid, StoredEvent>,
    /// `rejections`: event id → (tenant, reason).
    pub(crate) rejections: BTreeMap<Uuid, (TenantId, String)>,
    /// `tenant_states`.
    pub(crate) tenants: BTreeMap<TenantId, TenantRecord>,
    /// `tenant_cursors`.
    pub(crate) cursors: BTreeMap<TenantId, i64>,
    /// `parked_tenants`.
    pub(crate) parked: BTreeMap<TenantId, ParkedRow>,
    /// `sagas`.
    pub(crate) sagas: BTreeMap<Uuid, StoredSaga>,
    /// `outbox`: id → record.
    pub(crate) outbox: BTreeMap<u64, ProvisioningRecord>,
    /// Outbox ids a claim holds ([`OutboxClaim`]).
    pub(crate) claimed: BTreeSet<u64>,
    /// `tenant_sequences`: the last provisioning sequence per tenant.
    pub(crate) provisioning_sequences: BTreeMap<TenantId, i64>,
    /// `sites`: host → owner.
    pub(crate) sites: BTreeMap<String, TenantId>,
    /// `released_hosts`.
    pub(crate) released_hosts: BTreeMap<String, ReleasedHost>,
    /// `placements`.
    pub(crate) placements: BTreeMap<TenantId, (Region, bool)>,
    /// `product_databases`.
    pub(crate) databases: BTreeMap<(TenantId, ProductKey), PlacedDatabase>,
    /// `identity_groups`.
    pub(crate) groups: BTreeMap<TenantId, BTreeSet<String>>,
    /// `shards`, by id.
    pub(crate) shards: BTreeMap<String, Shard>,
}

/// A row of `tenant_events`.
#[derive(Debug, Clone)]
pub(crate) struct StoredEvent {
    pub(crate) record: CommerceRecord,
    pub(crate) source: EventSource,
    pub(crate) state: EventState,
}

/// A row of `parked_tenants`.
#[derive(Debug, Clone)]
pub(crate) struct ParkedRow {
    pub(crate) parked: ParkedTenant,
    pub(crate) action: Option<OperatorAction>,
    pub(crate) parked_at: u64,
}

/// A row of `sagas`.
#[derive(Debug, Clone)]
pub(crate) struct StoredSaga {
    pub(crate) saga: SagaState,
    pub(crate) created: u64,
    pub(crate) updated: u64,
}

impl Tables {
    /// The next tick of the logical clock.
    pub(crate) fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// Appends `state` to the outbox under `tenant`'s next provisioning sequence.
    pub(crate) fn publish(&mut self, tenant: &TenantId, state: TenantState) {
        let sequence = self
            .provisioning_sequences
            .entry(tenant.clone())
            .or_insert(0);
        *sequence += 1;
        let record = crate::outbox::state_record(tenant, *sequence, state, now_ms());
        let id = self.tick();
        self.outbox.insert(id, record);
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Tables> {
        // A panic while the lock was held (a failed test) leaves whole
        // tables: every change is applied after its checks.
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The outbox's records, oldest first.
    pub fn outbox(&self) -> Vec<ProvisioningRecord> {
        self.lock().outbox.values().cloned().collect()
    }

    /// A tenant's event stream by sequence: `(sequence, kind, state)`.
    pub fn stream(&self, tenant: &TenantId) -> Vec<(i64, String, EventState)> {
        let tables = self.lock();
        let mut events: Vec<_> = tables
            .events
            .values()
            .filter(|e| &e.record.envelope.tenant_id == tenant)
            .map(|e| {
                let env = &e.record.envelope;
                (env.sequence, e.record.event.kind().to_owned(), e.state)
            })
            .collect();
        events.sort_by_key(|(sequence, _, _)| *sequence);
        events
    }

    /// A tenant's rejected commerce events by sequence: `(sequence, reason)`.
    pub fn rejections(&self, tenant: &TenantId) -> Vec<(i64, String)> {
        let tables = self.lock();
        let mut rejections: Vec<(i64, String)> = tables
            .rejections
            .iter()
            .filter(|(_, (owner, _))| owner == tenant)
            .filter_map(|(event_id, (_, reason))| {
                let event = tables.events.get(event_id)?;
                Some((event.record.envelope.sequence, reason.clone()))
            })
            .collect();
        rejections.sort();
        rejections
    }

    /// A tenant's record as committed, if one is stored.
    pub fn tenant_record(&self, tenant: &TenantId) -> Option<TenantRecord> {
        self.lock().tenants.get(tenant).cloned()
    }

    /// Requests an operator action on a parked tenant, as
    /// [`crate::parking::request`] does (a retry of a sequence gap is
    /// refused).
    pub fn request(&self, tenant: &TenantId, action: OperatorAction) -> Requested {
        match self.lock().parked.get_mut(tenant) {
            Some(row) => {
                if let Some(refused) = Requested::refusal(&row.parked, action) {
                    return refused;
                }
                row.action = Some(action);
                Requested::Recorded
            }
            None => Requested::NotParked,
        }
    }

    /// Adds shard `<region>-shard-<number>` with `capacity` (or returns the
    /// one of that id), as [`crate::Store::add_shard`] does.
    pub fn add_shard(&self, region: &str, number: usize, capacity: i64) -> Shard {
        let shard_id = format!("{region}-shard-{number}");
        self.lock()
            .shards
            .entry(shard_id.clone())
            .or_insert_with(|| Shard {
                shard_id,
                region: region.to_owned(),
                capacity,
                used: 0,
            })
            .clone()
    }
}

impl ProvisionerStore for MemoryStore {
    type Work = MemoryWork;

    async fn begin(&self) -> Result<MemoryWork, StoreError> {
        Ok(MemoryWork::begin(self.clone()))
    }

    async fn saga(&self, saga_id: Uuid) -> Result<Option<SagaState>, StoreError> {
        Ok(self.lock().sagas.get(&saga_id).map(|s| s.saga.clone()))
    }

    async fn unfinished_sagas(&self) -> Result<Vec<SagaState>, StoreError> {
        let tables = self.lock();
        let mut sagas: Vec<&StoredSaga> = tables
            .sagas
            .values()
            .filter(|s| {
                matches!(
                    s.saga.status,
                    SagaStatus::Running | SagaStatus::Compensating
                )
            })
            .collect();
        sagas.sort_by_key(|s| (s.created, s.saga.saga_id));
        Ok(sagas.into_iter().map(|s| s.saga.clone()).collect())
    }

    async fn take_operator_requests(
        &self,
        owned: &[(String, i32)],
    ) -> Result<Vec<(TenantId, OperatorAction)>, StoreError> {
        let mut tables = self.lock();
        let owners: BTreeSet<TenantId> = tables
            .events
            .values()
            .filter(|event| {
                owned.iter().any(|(topic, partition)| {
                    event.source.topic == *topic && event.source.partition == *partition
                })
            })
            .map(|event| event.record.envelope.tenant_id.clone())
            .collect();
        let mut rows: Vec<&mut ParkedRow> = tables
            .parked
            .values_mut()
            .filter(|row| row.action.is_some() && owners.contains(&row.parked.tenant_id))
            .collect();
        rows.sort_by_key(|row| row.parked_at);
        Ok(rows
            .into_iter()
            .filter_map(|row| Some((row.parked.tenant_id.clone(), row.action.take()?)))
            .collect())
    }

    async fn compensation_failed(&self) -> Result<Vec<(Uuid, TenantId)>, StoreError> {
        let tables = self.lock();
        let mut sagas: Vec<&StoredSaga> = tables
            .sagas
            .values()
            .filter(|s| s.saga.status == SagaStatus::CompensationFailed)
            .filter(|s| {
                tables
                    .parked
                    .get(&s.saga.tenant_id)
                    .is_some_and(|row| row.parked.saga_id == Some(s.saga.saga_id))
            })
            .collect();
        sagas.sort_by_key(|s| s.updated);
        Ok(sagas
            .into_iter()
            .map(|s| (s.saga.saga_id, s.saga.tenant_id.clone()))
            .collect())
    }

    async fn parked(&self, tenant: &TenantId) -> Result<Option<ParkedTenant>, StoreError> {
        Ok(self.lock().parked.get(tenant).map(|row| row.parked.clone()))
    }
}

/// Outbox records claimed from a [`MemoryStore`]; the ids stay claimed
/// (skipped by other claims) until [`OutboxClaim::remove`] or drop.
#[derive(Debug)]
pub struct MemoryClaim {
    store: MemoryStore,
    records: Vec<OutboxRecord>,
    removed: bool,
}

impl OutboxStore for MemoryStore {
    type Error = StoreError;
    type Claim = MemoryClaim;

    async fn claim(&self, limit: usize) -> Result<MemoryClaim, StoreError> {
        let mut tables = self.lock();
        let records: Vec<OutboxRecord> = tables
            .outbox
            .iter()
            .filter(|(id, _)| !tables.claimed.contains(id))
            .take(limit)
            .map(|(id, record)| OutboxRecord {
                id: *id as i64,
                record: record.clone(),
                traceparent: None,
            })
            .collect();
        for record in &records {
            tables.claimed.insert(record.id as u64);
        }
        Ok(MemoryClaim {
            store: self.clone(),
            records,
            removed: false,
        })
    }
}

impl OutboxClaim for MemoryClaim {
    type Error = StoreError;

    fn records(&self) -> &[OutboxRecord] {
        &self.records
    }

    async fn remove(mut self) -> Result<(), StoreError> {
        let mut tables = self.store.lock();
        for record in &self.records {
            tables.outbox.remove(&(record.id as u64));
            tables.claimed.remove(&(record.id as u64));
        }
        self.removed = true;
        Ok(())
    }
}

impl Drop for MemoryClaim {
    fn drop(&mut self) {
        if !self.removed {
            let mut tables = self.store.lock();
            for record in &self.records {
                tables.claimed.remove(&(record.id as u64));
            }
        }
    }
}
