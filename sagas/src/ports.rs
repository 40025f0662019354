//! Port traits for every effect a saga step has, and for the store the
//! provisioner works against. Adapters live in `infra/` and the services;
//! this crate only declares what they must do.
//!
//! - [`StepEffects`] (and [`TransactionalEffects`]): the seven steps.
//! - [`BatchStore`]: a batch's unit of work as data, loaded and committed at once.
//! - [`ProvisionerStore`] and its [`UnitOfWork`]: one transaction of the
//!   per-record path — inbox, event stream, tenant records, parking, sagas —
//!   and the reads outside one. Implemented on PostgreSQL and SQLite
//!   (`tenantry_store::Store`) and in memory (`tenantry_store::memory`);
//!   one conformance suite (`infra/store/tests/conformance`) holds all three
//!   to the contracts written here.
//! - [`TenantContexts`]: the tenant context store the projector writes and
//!   the context API reads.

use crate::admission::OperatorAction;
use crate::context::TenantContext;
use crate::saga::SagaState;
use crate::steps::Step;
use crate::tenant::TenantRecord;
use crate::work::{
    Changes, Committed, EventState, Keys, Loaded, NewEvent, ParkedTenant, RecordedEvent,
    WaitingEvents,
};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use tenantry_schemas::{CommerceRecord, ProvisioningRecord, TenantId};
use uuid::Uuid;

pub use crate::output::StepOutput;

/// Why a step or compensation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct StepError {
    /// Operator-facing reason (`site host acme.tenantry.test is taken by tenant t7`).
    pub reason: String,
    /// Whether trying again may succeed (a timeout, a lost connection) as opposed
    /// to a business rule that will fail the same way every time.
    pub retryable: bool,
    /// Whether the step waits on something outside Tenantry that its owner
    /// must fix (a tenant's own KMS key disabled in the customer's account):
    /// not retried, not compensated; the saga stops at the step and parks
    /// the tenant until an operator retries it. Never with `retryable`.
    pub blocked: bool,
    /// Whether a system the step needs is down (a KMS, database or RDS API
    /// that does not answer): retried with capped backoff until it answers
    /// or the service stops, without using up the step's attempts, so an
    /// outage never fails, compensates or parks a saga. Always with
    /// `retryable`.
    pub unavailable: bool,
}

impl StepError {
    /// A failure that will not go away by retrying.
    pub fn permanent(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            retryable: false,
            blocked: false,
            unavailable: false,
        }
    }

    /// A failure that may go away by retrying (infrastructure).
    pub fn retryable(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            retryable: true,
            blocked: false,
            unavailable: false,
        }
    }

    /// A system the step needs does not answer (see
    /// [`StepError::unavailable`](Self#structfield.unavailable)).
    pub fn unavailable(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            retryable: true,
            blocked: false,
            unavailable: true,
        }
    }

    /// A failure only its owner outside Tenantry can lift (see
    /// [`StepError::blocked`](Self#structfield.blocked)).
    pub fn blocked(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            retryable: false,
            blocked: true,
            unavailable: false,
        }
    }
}

/// Performs the effects of the saga steps.
///
/// Contract: `execute` and `compensate` are idempotent for a given
/// `(saga.saga_id, step)` — running a step whose effect already happened
/// returns the recorded result, and compensating a step twice is a no-op — so
/// the runner may repeat them after a crash.
pub trait StepEffects: Send + Sync {
    /// How `step` is retried and bounded.
    fn policy(&self, step: Step) -> crate::StepPolicy;

    /// Runs `step` for `saga`; `saga.results` holds the outputs of earlier steps.
    fn execute(
        &self,
        saga: &SagaState,
        step: Step,
    ) -> impl Future<Output = Result<StepOutput, StepError>> + Send;

    /// Undoes the effect of a completed `step`.
    fn compensate(
        &self,
        saga: &SagaState,
        step: Step,
    ) -> impl Future<Output = Result<(), StepError>> + Send;
}

/// The store behind a batch's unit of work ([`crate::work`]): one read of
/// what the batch needs, one commit of what it decided.
///
/// Contract: [`BatchStore::load`] answers as of one moment; [`BatchStore::commit`]
/// writes all of [`Changes`] in one transaction or nothing, and answers
/// [`Committed::Conflict`] (writing nothing) when an event id, saga id or
/// site host it inserts exists already — someone else wrote it since the load.
pub trait BatchStore: Send + Sync {
    /// The store's error (infrastructure: retrying may succeed).
    type Error: std::error::Error + Send + Sync + 'static;

    /// Reads what `keys` name.
    fn load(&self, keys: &Keys) -> impl Future<Output = Result<Loaded, Self::Error>> + Send;

    /// Writes `changes` at once.
    fn commit(
        &self,
        changes: &Changes,
    ) -> impl Future<Output = Result<Committed, Self::Error>> + Send;
}

/// Step effects some of which can also run inside the caller's unit of work
/// `W`, so that a saga's consecutive store-only steps commit with the saga's
/// new state at once (one commit instead of one per step, and the effects
/// and their record cannot diverge).
pub trait TransactionalEffects<W>: StepEffects {
    /// Whether `step` of `saga` can run in a unit of work
    /// ([`TransactionalEffects::execute_in`]).
    fn runs_in_work(&self, saga: &SagaState, step: Step) -> bool;

    /// Runs `step` of `saga` in `work`; nothing is committed. The step's
    /// idempotency record is the saga state committed with it.
    ///
    /// # Errors
    /// The step's [`StepError`]; the caller then drops `work` and runs the
    /// step on its own ([`StepEffects::execute`]) with its retry policy.
    fn execute_in(
        &self,
        work: &mut W,
        saga: &SagaState,
        step: Step,
    ) -> impl Future<Output = Result<StepOutput, StepError>> + Send;
}

/// How a store operation failed, as far as its caller's next move goes.
///
/// Anything neither stale nor permanent is transient: the caller retries
/// with backoff (a lost connection, a serialisation failure, a timeout).
pub trait StoreFailure: std::error::Error + Send + Sync + 'static {
    /// A compare-and-set lost: the row changed since it was read (another
    /// runner owns the saga, case S1). Retrying the same write cannot succeed.
    fn is_stale(&self) -> bool;

    /// Waiting will not cure it: the database does not exist or refuses the
    /// credentials (PostgreSQL SQLSTATE `3D000`, class `28`).
    fn is_permanent(&self) -> bool;
}

/// One transaction of the provisioner's per-record path: reads see its own
/// writes, [`UnitOfWork::commit`] makes them durable at once, and dropping
/// it without a commit writes nothing (rollback).
///
/// Tenant records are cached for the transaction: each is read from the
/// store once and written once at commit, and each tenant whose
/// [`TenantRecord::state`] differs at commit from the state it had when the
/// transaction first read it gets exactly one tenant-state record in the
/// outbox (under its next provisioning sequence); a tenant whose state did
/// not change gets none.
///
/// The rest are row operations: the decisions (admission, parking and the
/// ledger that mirrors it) are the caller's.
pub trait UnitOfWork: Send {
    /// The store's error.
    type Error: StoreFailure;

    /// Records `record`'s event id as processed (dedup); `false`, writing
    /// nothing, when it already was.
    fn mark_processed(
        &mut self,
        record: &CommerceRecord,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;

    /// The event `event_id` identifies in the tenants' event streams, if any.
    fn recorded(
        &mut self,
        event_id: Uuid,
    ) -> impl Future<Output = Result<Option<RecordedEvent>, Self::Error>> + Send;

    /// Appends `event` to its tenant's event stream with its state.
    ///
    /// # Errors
    /// The store's, also when the event id is in a stream already (callers
    /// dedup first with [`UnitOfWork::mark_processed`]).
    fn append(&mut self, event: &NewEvent) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Records that the event `event_id` of `tenant` was refused (by a guard,
    /// or given up by an operator), with `reason`; the first reason recorded
    /// for an event stays.
    fn reject(
        &mut self,
        event_id: Uuid,
        tenant: &TenantId,
        reason: &str,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// The tenant's waiting event of lowest commerce sequence.
    fn next_waiting(
        &mut self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Option<CommerceRecord>, Self::Error>> + Send;

    /// Sets the state of the recorded event `event_id` (no-op when none is).
    fn set_event_state(
        &mut self,
        event_id: Uuid,
        state: EventState,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// How many of the tenant's events wait, and the highest sequence among them.
    fn waiting(
        &mut self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<WaitingEvents, Self::Error>> + Send;

    /// The tenant's record (the default when none is stored), as this
    /// transaction left it.
    fn tenant(
        &mut self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<TenantRecord, Self::Error>> + Send;

    /// Replaces the tenant's record; written, and its state published when
    /// it changed, at commit.
    fn save_tenant(
        &mut self,
        tenant: &TenantId,
        record: TenantRecord,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Sets the tenant's admission cursor row (the last released commerce
    /// sequence, which operators' tools read).
    fn set_cursor(
        &mut self,
        tenant: &TenantId,
        sequence: i64,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// The tenant's parking row, if it is parked.
    fn parked(
        &mut self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Option<ParkedTenant>, Self::Error>> + Send;

    /// Writes the tenant's parking row (replacing an older one, and clearing
    /// any pending operator request).
    fn park(
        &mut self,
        parked: &ParkedTenant,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Removes the tenant's parking row (no-op when none).
    fn unpark(&mut self, tenant: &TenantId)
    -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Inserts a new saga; `false`, writing nothing, when one with its id
    /// exists (the trigger was redelivered).
    fn insert_saga(
        &mut self,
        saga: &SagaState,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;

    /// One saga.
    fn saga(
        &mut self,
        saga_id: Uuid,
    ) -> impl Future<Output = Result<Option<SagaState>, Self::Error>> + Send;

    /// Writes `saga` if the stored version is still `expected_version`.
    ///
    /// # Errors
    /// A stale error ([`StoreFailure::is_stale`]) when another writer got there first.
    fn compare_and_set(
        &mut self,
        saga: &SagaState,
        expected_version: i64,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Writes the cached tenant records and their outbox records, and commits.
    ///
    /// # Errors
    /// The store's; nothing is written then.
    fn commit(self) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// The store of the provisioner: units of work ([`ProvisionerStore::begin`]),
/// the batch path ([`BatchStore`]), and the reads and writes that stand
/// outside one transaction.
pub trait ProvisionerStore: BatchStore<Error: StoreFailure> + Clone + 'static {
    /// One transaction.
    type Work: UnitOfWork<Error = Self::Error> + 'static;

    /// Starts a unit of work.
    fn begin(&self) -> impl Future<Output = Result<Self::Work, Self::Error>> + Send;

    /// One saga, as committed.
    fn saga(
        &self,
        saga_id: Uuid,
    ) -> impl Future<Output = Result<Option<SagaState>, Self::Error>> + Send;

    /// Sagas left running or compensating, oldest first (to resume after a restart).
    fn unfinished_sagas(&self) -> impl Future<Output = Result<Vec<SagaState>, Self::Error>> + Send;

    /// Takes the pending operator requests of the tenants whose commerce
    /// events were read from one of `owned` (topic, partition) — the
    /// partitions this provisioner consumes — oldest parking first: returns
    /// them and clears them, so each is carried out once, by the replica
    /// that handles the tenant's events. Requests of other tenants stay for
    /// the replica that owns them.
    fn take_operator_requests(
        &self,
        owned: &[(String, i32)],
    ) -> impl Future<Output = Result<Vec<(TenantId, OperatorAction)>, Self::Error>> + Send;

    /// Sagas in `compensation_failed` whose tenant is still parked on them
    /// (an operator's skip takes a saga off the compensation retry
    /// schedule), least recently updated first: `(saga id, tenant)`.
    fn compensation_failed(
        &self,
    ) -> impl Future<Output = Result<Vec<(Uuid, TenantId)>, Self::Error>> + Send;

    /// The tenant's parking row, if it is parked.
    fn parked(
        &self,
        tenant: &TenantId,
    ) -> impl Future<Output = Result<Option<ParkedTenant>, Self::Error>> + Send;
}

/// A provisioning record the outbox holds, claimed for publishing.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRecord {
    /// Its id in the outbox: records of one tenant are published in id
    /// order, which is their provisioning-sequence order.
    pub id: i64,
    /// The record (key = tenant id).
    pub record: ProvisioningRecord,
    /// The W3C `traceparent` of the span that wrote it (the commerce
    /// record's processing), so the relay's publish continues that trace;
    /// `None` when the writer exported no traces.
    pub traceparent: Option<String>,
}

/// The outbox as its relay sees it: claim the oldest records, publish them,
/// remove them. Records claimed and not removed (publishing failed, the
/// process stopped) are claimed again, with the same event ids and keys
/// (case D6).
pub trait OutboxStore: Send + Sync {
    /// The store's error (infrastructure: retrying may succeed).
    type Error: std::error::Error + Send + Sync + 'static;
    /// Records claimed at once.
    type Claim: OutboxClaim<Error = Self::Error>;

    /// Claims up to `limit` records, lowest id first, in id order; another
    /// relay's claim skips them until this one ends.
    fn claim(&self, limit: usize) -> impl Future<Output = Result<Self::Claim, Self::Error>> + Send;
}

/// Records claimed from the outbox. Dropped without
/// [`OutboxClaim::remove`], they stay in the outbox.
pub trait OutboxClaim: Send {
    /// The store's error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The claimed records, in id order.
    fn records(&self) -> &[OutboxRecord];

    /// Removes the claimed records: they were published.
    fn remove(self) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// How a [`TenantContexts`] operation failed. Both variants display as
/// their cause, so a caller's messages read the same whichever store
/// answered.
#[derive(Debug, thiserror::Error)]
pub enum ContextsError {
    /// The store failed or did not answer; retrying may succeed.
    #[error(transparent)]
    Unavailable(Box<dyn std::error::Error + Send + Sync + 'static>),
    /// A stored context (or its key) does not decode; retrying will not help.
    #[error(transparent)]
    Corrupt(Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl ContextsError {
    /// Whether a stored context does not decode ([`ContextsError::Corrupt`]).
    pub fn is_corrupt(&self) -> bool {
        matches!(self, ContextsError::Corrupt(_))
    }
}

/// The tenant context store: one [`TenantContext`] per tenant, with a
/// revision the store counts up on every write and a site host to look it
/// up by. The projector writes it, the context API reads it.
///
/// Implemented on PostgreSQL and SQLite (`tenantry_store::ContextStore`)
/// and in memory (`tenantry_store::memory::MemoryContexts`); one
/// conformance suite (`infra/store/tests/contexts`) holds them to the
/// contracts written here.
#[async_trait::async_trait]
pub trait TenantContexts: std::fmt::Debug + Send + Sync {
    /// The context of `tenant_id`, if any.
    async fn get(&self, tenant_id: &TenantId) -> Result<Option<TenantContext>, ContextsError>;

    /// The context whose site host is `host` (exact; hosts are stored lower
    /// case). When several contexts name the host (it moved to a new
    /// tenant), one whose tenant is not destroyed wins, then the most
    /// recently written.
    async fn get_by_host(&self, host: &str) -> Result<Option<TenantContext>, ContextsError>;

    /// The stored contexts of `tenants` with their revisions; a tenant
    /// without a context is absent from the map.
    async fn get_many(
        &self,
        tenants: &[&TenantId],
    ) -> Result<BTreeMap<TenantId, (TenantContext, i64)>, ContextsError>;

    /// Compare-and-set by revision, per context. Each `(context, expected)`
    /// (a tenant at most once) is written when:
    ///
    /// - the tenant has a stored context whose revision is `expected`
    ///   (`Some`): it is replaced and its revision becomes `expected + 1`;
    /// - the tenant has no stored context: it is inserted with revision
    ///   `expected + 1`, or 1 when `expected` is `None`.
    ///
    /// A stored context whose revision differs from `expected` (including
    /// any stored context when `expected` is `None`) is left as it is: it
    /// changed since the caller read it, so a stale writer never overwrites
    /// a newer context. Returns the tenants written; the caller reads the
    /// others again and retries. Each context is decided on its own (no
    /// all-or-nothing across tenants).
    async fn put_many_if(
        &self,
        contexts: &[(TenantContext, Option<i64>)],
    ) -> Result<BTreeSet<TenantId>, ContextsError>;

    /// Compare-and-set delete by revision, per tenant. Each `(tenant,
    /// expected)` (a tenant at most once) is deleted when its stored
    /// context's revision is `expected`; a context that changed since the
    /// caller read it, or is gone, is left as it is. Returns the tenants
    /// deleted (a full `tenantry replay` removes the contexts of tenants the
    /// provisioning topic no longer has). Each tenant is decided on its own.
    async fn delete_many_if(
        &self,
        tenants: &[(TenantId, i64)],
    ) -> Result<BTreeSet<TenantId>, ContextsError>;

    /// Writes `context` unconditionally (replay into an empty store); the
    /// revision becomes the stored one plus one, or 1.
    async fn put(&self, context: &TenantContext) -> Result<(), ContextsError>;

    /// Every stored context, ordered by tenant id.
    async fn all(&self) -> Result<Vec<TenantContext>, ContextsError>;

    /// Whether the store answers (readiness).
    async fn ping(&self) -> Result<(), ContextsError>;

    /// Deletes every context (replay into an empty store); returns how many.
    async fn clear(&self) -> Result<u64, ContextsError>;
}
