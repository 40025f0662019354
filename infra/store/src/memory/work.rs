//! [`MemoryWork`]: one unit of work on a [`MemoryStore`].

use super::{MemoryStore, ParkedRow, StoredEvent, StoredSaga, Tables};
use crate::store::StoreError;
use std::collections::{BTreeMap, BTreeSet};
use tenantry_sagas::work::{EventState, NewEvent, ParkedTenant, RecordedEvent, WaitingEvents};
use tenantry_sagas::{SagaState, TenantRecord, UnitOfWork};
use tenantry_schemas::{CommerceRecord, TenantId};
use uuid::Uuid;

/// One unit of work on a [`MemoryStore`]: a copy of the tables taken when
/// it began, with its own writes applied, and the log of those writes that
/// [`UnitOfWork::commit`] applies to the store. Dropped without a commit,
/// it writes nothing.
#[derive(Debug)]
pub struct MemoryWork {
    store: MemoryStore,
    view: Tables,
    log: Vec<Write>,
    /// Tenant records as this unit of work first read them.
    before: BTreeMap<TenantId, TenantRecord>,
    /// Tenants whose record this unit of work saved.
    saved: BTreeSet<TenantId>,
}

/// A logged write, applied again to the store's tables at commit.
#[derive(Debug, Clone)]
enum Write {
    Processed(Uuid, TenantId),
    Append(Uuid, StoredEvent),
    Reject(Uuid, TenantId, String),
    EventState(Uuid, EventState),
    Cursor(TenantId, i64),
    Park(ParkedTenant),
    Unpark(TenantId),
    InsertSaga(SagaState),
    CompareAndSet(SagaState, i64),
}

impl MemoryWork {
    pub(super) fn begin(store: MemoryStore) -> Self {
        let view = store.lock().clone();
        Self {
            store,
            view,
            log: Vec::new(),
            before: BTreeMap::new(),
            saved: BTreeSet::new(),
        }
    }

    fn write(&mut self, write: Write) -> Result<(), StoreError> {
        apply(&mut self.view, &write)?;
        self.log.push(write);
        Ok(())
    }

    fn remember(&mut self, tenant: &TenantId) {
        if !self.before.contains_key(tenant) {
            let record = self.view.tenants.get(tenant).cloned().unwrap_or_default();
            self.before.insert(tenant.clone(), record);
        }
    }
}

/// Applies `write` to `tables`, or fails as the database would: a row
/// counted on being new exists (a conflict), or a compare-and-set finds
/// another version (stale).
fn apply(tables: &mut Tables, write: &Write) -> Result<(), StoreError> {
    match write {
        Write::Processed(event_id, tenant) => {
            if tables.processed.contains_key(event_id) {
                return Err(StoreError::Conflict(format!(
                    "event {event_id} was recorded as processed meanwhile"
                )));
            }
            tables.processed.insert(*event_id, tenant.clone());
        }
        Write::Append(event_id, event) => {
            if tables.events.contains_key(event_id) {
                return Err(StoreError::Conflict(format!(
                    "event {event_id} is in an event stream already"
                )));
            }
            tables.events.insert(*event_id, event.clone());
        }
        Write::Reject(event_id, tenant, reason) => {
            tables
                .rejections
                .entry(*event_id)
                .or_insert_with(|| (tenant.clone(), reason.clone()));
        }
        Write::EventState(event_id, state) => {
            if let Some(event) = tables.events.get_mut(event_id) {
                event.state = *state;
            }
        }
        Write::Cursor(tenant, sequence) => {
            tables.cursors.insert(tenant.clone(), *sequence);
        }
        Write::Park(parked) => {
            let parked_at = tables.tick();
            tables.parked.insert(
                parked.tenant_id.clone(),
                ParkedRow {
                    parked: parked.clone(),
                    action: None,
                    parked_at,
                },
            );
        }
        Write::Unpark(tenant) => {
            tables.parked.remove(tenant);
        }
        Write::InsertSaga(saga) => {
            if tables.sagas.contains_key(&saga.saga_id) {
                return Err(StoreError::Conflict(format!(
                    "saga {} was inserted meanwhile",
                    saga.saga_id
                )));
            }
            let now = tables.tick();
            tables.sagas.insert(
                saga.saga_id,
                StoredSaga {
                    saga: saga.clone(),
                    created: now,
                    updated: now,
                },
            );
        }
        Write::CompareAndSet(saga, expected) => {
            let now = tables.tick();
            match tables.sagas.get_mut(&saga.saga_id) {
                Some(stored) if stored.saga.version == *expected => {
                    stored.saga = saga.clone();
                    stored.updated = now;
                }
                _ => {
                    return Err(StoreError::Stale(format!(
                        "saga {} is no longer at version {expected}",
                        saga.saga_id
                    )));
                }
            }
        }
    }
    Ok(())
}

impl UnitOfWork for MemoryWork {
    type Error = StoreError;

    async fn mark_processed(&mut self, record: &CommerceRecord) -> Result<bool, StoreError> {
        let env = &record.envelope;
        if self.view.processed.contains_key(&env.event_id) {
            return Ok(false);
        }
        self.write(Write::Processed(env.event_id, env.tenant_id.clone()))?;
        Ok(true)
    }

    async fn recorded(&mut self, event_id: Uuid) -> Result<Option<RecordedEvent>, StoreError> {
        Ok(self.view.events.get(&event_id).map(|event| {
            let env = &event.record.envelope;
            RecordedEvent {
                tenant_id: env.tenant_id.clone(),
                sequence: env.sequence,
                kind: event.record.event.kind().to_owned(),
            }
        }))
    }

    async fn append(&mut self, event: &NewEvent) -> Result<(), StoreError> {
        let stored = StoredEvent {
            record: event.record.clone(),
            source: event.source.clone(),
            state: event.state,
        };
        self.write(Write::Append(event.record.envelope.event_id, stored))
    }

    async fn reject(
        &mut self,
        event_id: Uuid,
        tenant: &TenantId,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.write(Write::Reject(event_id, tenant.clone(), reason.to_owned()))
    }

    async fn next_waiting(
        &mut self,
        tenant: &TenantId,
    ) -> Result<Option<CommerceRecord>, StoreError> {
        Ok(self
            .view
            .events
            .values()
            .filter(|e| e.state == EventState::Waiting && &e.record.envelope.tenant_id == tenant)
            .min_by_key(|e| e.record.envelope.sequence)
            .map(|e| e.record.clone()))
    }

    async fn set_event_state(
        &mut self,
        event_id: Uuid,
        state: EventState,
    ) -> Result<(), StoreError> {
        self.write(Write::EventState(event_id, state))
    }

    async fn waiting(&mut self, tenant: &TenantId) -> Result<WaitingEvents, StoreError> {
        let mut waiting = WaitingEvents::default();
        for event in self.view.events.values() {
            let env = &event.record.envelope;
            if event.state == EventState::Waiting && &env.tenant_id == tenant {
                waiting.count += 1;
                waiting.last_sequence = waiting.last_sequence.max(env.sequence);
            }
        }
        Ok(waiting)
    }

    async fn tenant(&mut self, tenant: &TenantId) -> Result<TenantRecord, StoreError> {
        self.remember(tenant);
        Ok(self.view.tenants.get(tenant).cloned().unwrap_or_default())
    }

    async fn save_tenant(
        &mut self,
        tenant: &TenantId,
        record: TenantRecord,
    ) -> Result<(), StoreError> {
        self.remember(tenant);
        self.view.tenants.insert(tenant.clone(), record);
        self.saved.insert(tenant.clone());
        Ok(())
    }

    async fn set_cursor(&mut self, tenant: &TenantId, sequence: i64) -> Result<(), StoreError> {
        self.write(Write::Cursor(tenant.clone(), sequence))
    }

    async fn parked(&mut self, tenant: &TenantId) -> Result<Option<ParkedTenant>, StoreError> {
        Ok(self.view.parked.get(tenant).map(|row| row.parked.clone()))
    }

    async fn park(&mut self, parked: &ParkedTenant) -> Result<(), StoreError> {
        self.write(Write::Park(parked.clone()))
    }

    async fn unpark(&mut self, tenant: &TenantId) -> Result<(), StoreError> {
        self.write(Write::Unpark(tenant.clone()))
    }

    async fn insert_saga(&mut self, saga: &SagaState) -> Result<bool, StoreError> {
        if self.view.sagas.contains_key(&saga.saga_id) {
            return Ok(false);
        }
        self.write(Write::InsertSaga(saga.clone()))?;
        Ok(true)
    }

    async fn saga(&mut self, saga_id: Uuid) -> Result<Option<SagaState>, StoreError> {
        Ok(self.view.sagas.get(&saga_id).map(|s| s.saga.clone()))
    }

    async fn compare_and_set(
        &mut self,
        saga: &SagaState,
        expected_version: i64,
    ) -> Result<(), StoreError> {
        self.write(Write::CompareAndSet(saga.clone(), expected_version))
    }

    async fn commit(self) -> Result<(), StoreError> {
        let mut tables = self.store.lock();
        let mut next = tables.clone();
        for write in &self.log {
            apply(&mut next, write)?;
        }
        // As the database's write-behind cache: each saved record once, in
        // tenant order, and a tenant-state record for each tenant whose
        // state changed since this unit of work first read it.
        for tenant in &self.saved {
            let record = self.view.tenants.get(tenant).cloned().unwrap_or_default();
            let state = record.state();
            let changed = self
                .before
                .get(tenant)
                .is_none_or(|before| before.state() != state);
            next.tenants.insert(tenant.clone(), record);
            if changed {
                next.publish(tenant, state);
            }
        }
        *tables = next;
        Ok(())
    }
}
