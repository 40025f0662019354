//! The provisioner's store on PostgreSQL and SQLite: [`StoreWork`], one
//! transaction with its write-behind cache ([`tenantry_sagas::UnitOfWork`]),
//! and [`Store`] as the [`tenantry_sagas::ProvisionerStore`].
//!
//! Each operation is one of the row functions of [`crate::inbox`],
//! [`crate::parking`], [`crate::sagas`] and [`crate::tenant_states`] in the
//! transaction; tenant records go through the [`WriteBehind`] cache, which
//! [`StoreWork::commit`] writes — the records, then their tenant-state
//! records in the outbox (the order every writer locks a tenant's rows in)
//! — just before it commits.

use crate::store::{Backend, Store, StoreError};
use crate::write_behind::WriteBehind;
use crate::{inbox, parking, sagas};
use sqlx::{Any, Transaction};
use tenantry_sagas::admission::OperatorAction;
use tenantry_sagas::work::{EventState, NewEvent, ParkedTenant, RecordedEvent, WaitingEvents};
use tenantry_sagas::{ProvisionerStore, SagaState, TenantRecord, UnitOfWork};
use tenantry_schemas::{CommerceRecord, TenantId};
use uuid::Uuid;

type Tx = Transaction<'static, Any>;

/// One transaction of the provisioner on the store, with the tenant records
/// and outbox records it holds back until its commit. Dropped without
/// [`UnitOfWork::commit`], it rolls back.
#[derive(Debug)]
pub struct StoreWork {
    tx: Tx,
    held: WriteBehind,
    backend: Backend,
}

impl StoreWork {
    /// Begins a transaction on `store`.
    ///
    /// # Errors
    /// The store's.
    pub async fn begin(store: &Store) -> Result<Self, StoreError> {
        Ok(Self {
            tx: store.pool().begin().await?,
            held: WriteBehind::default(),
            backend: store.backend(),
        })
    }

    /// The transaction, for the steps' rows written in it
    /// ([`tenantry_sagas::step_store::StepStore`]).
    pub(crate) fn transaction(&mut self) -> &mut Tx {
        &mut self.tx
    }

    /// The database the transaction runs on.
    pub(crate) fn backend(&self) -> Backend {
        self.backend
    }
}

impl UnitOfWork for StoreWork {
    type Error = StoreError;

    async fn mark_processed(&mut self, record: &CommerceRecord) -> Result<bool, StoreError> {
        inbox::mark_processed(&mut self.tx, record).await
    }

    async fn recorded(&mut self, event_id: Uuid) -> Result<Option<RecordedEvent>, StoreError> {
        let Some((tenant, sequence, kind, _)) = inbox::recorded(&mut *self.tx, &event_id).await?
        else {
            return Ok(None);
        };
        Ok(Some(RecordedEvent {
            tenant_id: TenantId::parse(&tenant).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            sequence,
            kind,
        }))
    }

    async fn append(&mut self, event: &NewEvent) -> Result<(), StoreError> {
        inbox::append(&mut self.tx, event).await
    }

    async fn reject(
        &mut self,
        event_id: Uuid,
        tenant: &TenantId,
        reason: &str,
    ) -> Result<(), StoreError> {
        inbox::reject_event(&mut self.tx, &event_id, tenant, reason).await
    }

    async fn next_waiting(
        &mut self,
        tenant: &TenantId,
    ) -> Result<Option<CommerceRecord>, StoreError> {
        parking::next_waiting(&mut self.tx, tenant).await
    }

    async fn set_event_state(
        &mut self,
        event_id: Uuid,
        state: EventState,
    ) -> Result<(), StoreError> {
        parking::set_state(&mut self.tx, &event_id, state).await
    }

    async fn waiting(&mut self, tenant: &TenantId) -> Result<WaitingEvents, StoreError> {
        parking::waiting(&mut self.tx, tenant).await
    }

    async fn tenant(&mut self, tenant: &TenantId) -> Result<TenantRecord, StoreError> {
        self.held.states.load(&mut self.tx, tenant).await
    }

    async fn save_tenant(
        &mut self,
        tenant: &TenantId,
        record: TenantRecord,
    ) -> Result<(), StoreError> {
        self.held
            .states
            .update(&mut self.tx, tenant, |stored| *stored = record)
            .await
    }

    async fn set_cursor(&mut self, tenant: &TenantId, sequence: i64) -> Result<(), StoreError> {
        parking::set_cursor(&mut self.tx, tenant, sequence).await
    }

    async fn parked(&mut self, tenant: &TenantId) -> Result<Option<ParkedTenant>, StoreError> {
        parking::row(&mut *self.tx, tenant).await
    }

    async fn park(&mut self, parked: &ParkedTenant) -> Result<(), StoreError> {
        parking::park(&mut self.tx, parked).await
    }

    async fn unpark(&mut self, tenant: &TenantId) -> Result<(), StoreError> {
        parking::unpark(&mut self.tx, tenant).await
    }

    async fn insert_saga(&mut self, saga: &SagaState) -> Result<bool, StoreError> {
        sagas::insert(&mut self.tx, saga).await
    }

    async fn saga(&mut self, saga_id: Uuid) -> Result<Option<SagaState>, StoreError> {
        sagas::load_in(&mut self.tx, saga_id).await
    }

    async fn compare_and_set(
        &mut self,
        saga: &SagaState,
        expected_version: i64,
    ) -> Result<(), StoreError> {
        sagas::compare_and_set(&mut self.tx, saga, expected_version).await
    }

    async fn commit(mut self) -> Result<(), StoreError> {
        use tracing::Instrument as _;
        let span = crate::spans::commit(self.backend);
        async move {
            self.held.write(&mut self.tx).await?;
            self.tx.commit().await?;
            Ok(())
        }
        .instrument(span)
        .await
    }
}

impl ProvisionerStore for Store {
    type Work = StoreWork;

    async fn begin(&self) -> Result<StoreWork, StoreError> {
        StoreWork::begin(self).await
    }

    async fn saga(&self, saga_id: Uuid) -> Result<Option<SagaState>, StoreError> {
        sagas::load(self.pool(), saga_id).await
    }

    async fn unfinished_sagas(&self) -> Result<Vec<SagaState>, StoreError> {
        sagas::unfinished(self.pool()).await
    }

    async fn take_operator_requests(
        &self,
        owned: &[(String, i32)],
    ) -> Result<Vec<(TenantId, OperatorAction)>, StoreError> {
        parking::take_requested(self.pool(), owned).await
    }

    async fn compensation_failed(&self) -> Result<Vec<(Uuid, TenantId)>, StoreError> {
        parking::compensation_failed(self.pool()).await
    }

    async fn parked(&self, tenant: &TenantId) -> Result<Option<ParkedTenant>, StoreError> {
        parking::row(self.pool(), tenant).await
    }
}
