//! One commerce record, end to end.
//!
//! 1. Decode and validate. A permanent decode error (not Confluent framing,
//!    unknown schema id, a field breaking a rule, a key that is not the
//!    envelope's tenant) goes to the dead-letter topic with the reason; an
//!    unreachable schema registry is retried, never dead-lettered (case D3).
//! 2. In one transaction: dedup by event id, decide its order (release, stale
//!    no-op, or wait behind a parked tenant or a sequence gap), append it to
//!    the tenant's event stream, apply guards, plan and insert the saga; a
//!    tenant whose state changed gets its tenant-state record in the outbox
//!    (cases D1, D2, D4).
//! 3. Settle the tenant: the reconciler compares desired and provisioned
//!    state and the saga that closes the gap runs to its end, again until they
//!    agree; then the tenant's waiting events are released in order. The
//!    caller stores the offset only after this returns.
//!
//! The records a worker holds are first decided together, as one unit of
//! work committed at once ([`crate::batch`]); the first record that batch
//! cannot handle takes the path above — a transaction per round and per
//! step — and the records after it start the next batch.

use crate::admission;
use crate::backoff;
use crate::dead_letter::DeadLetterQueue;
use crate::events::{
    DeadLetterReason, RecordDeadLettered, SagaFinished, SagaPath, StepFinished, StepOutcome,
};
use crate::runner::{Interrupted, SagaRunner};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tenantry_kafka::Record;
use tenantry_sagas::admission::{Admission, ParkKind, Waiting, release_waiting};
use tenantry_sagas::work::{Committed, EventSource, EventState, NewEvent, ParkedTenant};
use tenantry_sagas::{ProvisionerStore, SagaState, TransactionalEffects, UnitOfWork, reconcile};
use tenantry_schemas::{Codec, CommerceRecord, DecodeError, TenantId};
use tenantry_telemetry::metrics::Event;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument as _, Span};

/// Shutdown was requested while a record was in flight; its offset must not be stored.
#[derive(Debug)]
pub struct ShuttingDown;

/// What [`Ingest::handle_batch`] needs: the store `S`, the step effects
/// `E` of the saga runner, and the dead-letter queue `D`.
pub struct Ingest<S, E, D> {
    /// Saga and event store.
    pub store: S,
    /// Record codec.
    pub codec: Arc<Codec>,
    /// Where undecodable and invalid records go.
    pub dead_letters: D,
    /// Saga runner.
    pub runner: SagaRunner<S, E>,
    /// What the steps need when they run in a batch.
    pub steps: crate::steps::StepContext,
}

impl<S, E, D> Ingest<S, E, D>
where
    S: ProvisionerStore,
    E: TransactionalEffects<S::Work> + 'static,
    D: DeadLetterQueue,
{
    /// Handles `records` — one worker's queue, in arrival order — completely,
    /// calling `finished` for each as its effect becomes durable (in any
    /// order; the offset tracker stores only the finished prefix).
    ///
    /// Records are decided together for as long as the batch can handle
    /// them ([`crate::batch::plan`]): loaded in one read per table, decided in
    /// memory, committed in one statement per table — the seven steps
    /// included when product databases are schemas and no app is installed.
    /// The first record the batch cannot handle — a step fails, an app
    /// callback, a saga of another kind, a parked tenant — ends the batch:
    /// the records before it are committed, it is handled on its own (each
    /// round and step in its own transaction, with the step's retries and
    /// compensations), and the records after it start the next batch.
    /// Records are therefore handled in arrival order, across tenants too
    /// (two tenants asking for one site name get the outcome
    /// record-by-record handling gives).
    pub async fn handle_batch(
        &self,
        records: &[Record],
        shutdown: &CancellationToken,
        mut finished: impl FnMut(&Record),
    ) -> Result<(), ShuttingDown> {
        let mut decoded = Vec::with_capacity(records.len());
        // Each decoded record's trace span (`Record::process_span`), by index.
        let mut spans = Vec::with_capacity(records.len());
        for record in records {
            match self.decode(record, shutdown).await? {
                Ok(commerce) => {
                    spans.push(record.process_span(None));
                    decoded.push((record, commerce));
                }
                Err((reason, detail)) => {
                    self.dead_letter(record, reason, &detail, shutdown).await?;
                    finished(record);
                }
            }
        }
        let mut rest = &decoded[..];
        let mut rest_spans = &spans[..];
        while !rest.is_empty() {
            let run = tokio::select! {
                () = shutdown.cancelled() => return Err(ShuttingDown),
                run = self.longest_run(rest, rest_spans) => run,
            };
            // How many records were committed together; whether the next
            // one is then handled alone.
            let (together, then_alone) = match run {
                Run::All => (rest.len(), false),
                Run::UpTo(k) => (k, true),
                // The store failed: the first record alone (its path retries
                // until the store is back), then batches again.
                Run::Failed => (0, true),
            };
            for (record, _) in &rest[..together] {
                finished(record);
            }
            rest = &rest[together..];
            rest_spans = &rest_spans[together..];
            if then_alone && let Some(((record, commerce), after)) = rest.split_first() {
                self.record_and_settle(record, commerce, shutdown)
                    .instrument(rest_spans[0].clone())
                    .await?;
                finished(record);
                rest = after;
                rest_spans = &rest_spans[1..];
            }
        }
        Ok(())
    }

    /// Commits the longest prefix of `batch` that finishes as one unit of
    /// work ([`crate::batch`]): loaded in one read per table, decided in
    /// memory, written in one statement per table. It ends before the first
    /// record the batch cannot handle; nothing is committed if the store
    /// fails, a row the batch counted on being new was written meanwhile, or
    /// the attempt outlasts [`TOGETHER_DEADLINE`].
    async fn longest_run(&self, batch: &[(&Record, CommerceRecord)], spans: &[Span]) -> Run {
        let attempt = self
            .attempt(batch, spans)
            .instrument(tenantry_telemetry::trace::batch("provisioner batch", spans));
        match tokio::time::timeout(TOGETHER_DEADLINE, attempt).await {
            Ok(run) => run,
            Err(_) => Run::Failed,
        }
    }

    async fn attempt(&self, batch: &[(&Record, CommerceRecord)], spans: &[Span]) -> Run {
        let started = Instant::now();
        let keys = crate::batch::keys(batch, &self.steps.config.site_domain);
        let loaded = match self.store.load(&keys).await {
            Ok(loaded) => loaded,
            Err(error) => {
                tracing::warn!(%error, "Batch not loaded; its first record on its own.");
                return Run::Failed;
            }
        };
        let plan = crate::batch::plan_traced(&self.steps, loaded, batch, spans).await;
        let end = match &plan.stop_at {
            None => batch.len(),
            Some((k, reason)) => {
                tracing::debug!(%reason, records = k, "Batch ends before a record handled on its own.");
                *k
            }
        };
        let changes = plan.changes;
        if !changes.is_empty() {
            match self.store.commit(&changes).await {
                Ok(Committed::Done) => {
                    self.runner.wake_relay();
                    emit_batch_sagas(&changes.sagas, started.elapsed());
                }
                Ok(Committed::Conflict(reason)) => {
                    tracing::debug!(%reason, "Batch conflicts with another writer; its first record on its own.");
                    return Run::Failed;
                }
                Err(error) => {
                    tracing::warn!(%error, "Batch not committed; its first record on its own.");
                    return Run::Failed;
                }
            }
        }
        if end == batch.len() {
            Run::All
        } else {
            Run::UpTo(end)
        }
    }

    async fn dead_letter(
        &self,
        record: &Record,
        reason: DeadLetterReason,
        detail: &str,
        shutdown: &CancellationToken,
    ) -> Result<(), ShuttingDown> {
        self.retry(shutdown, "dead-letter publish", || {
            self.dead_letters.publish(record, detail)
        })
        .await?;
        RecordDeadLettered {
            record,
            reason,
            detail,
        }
        .emit();
        Ok(())
    }

    /// Steps 2 and 3 of a decoded record, each transaction on its own.
    async fn record_and_settle(
        &self,
        record: &Record,
        commerce: &CommerceRecord,
        shutdown: &CancellationToken,
    ) -> Result<(), ShuttingDown> {
        let source = EventSource {
            topic: record.topic.clone(),
            partition: record.partition,
            offset: record.offset,
        };
        let recorded = self
            .retry(shutdown, "record commerce event", || {
                self.record(commerce, &source)
            })
            .await?;
        if let Recorded::Conflict(detail) = recorded {
            return self
                .dead_letter(record, DeadLetterReason::EventIdConflict, &detail, shutdown)
                .await;
        }
        self.settle(&commerce.envelope.tenant_id, shutdown).await
    }

    /// Decodes; `Ok(Err((reason, detail)))` is a permanent failure to
    /// dead-letter, `detail` its `dlq.reason` header.
    async fn decode(
        &self,
        record: &Record,
        shutdown: &CancellationToken,
    ) -> Result<Result<CommerceRecord, (DeadLetterReason, String)>, ShuttingDown> {
        let Some(payload) = record.payload.as_deref() else {
            return Ok(Err((
                DeadLetterReason::Tombstone,
                "empty record (tombstone) on the commerce topic".into(),
            )));
        };
        let mut delays = backoff().chain(std::iter::repeat(Duration::from_secs(5)));
        loop {
            match self.codec.decode_commerce(payload).await {
                Ok(commerce) => {
                    let key = record.key_str();
                    if key != Some(commerce.envelope.tenant_id.as_str()) {
                        let key = key.map_or_else(
                            || "(missing or not UTF-8)".to_owned(),
                            |k| format!("{k:?}"),
                        );
                        return Ok(Err((
                            DeadLetterReason::KeyMismatch,
                            format!(
                                "key: record key {key} is not the envelope's tenant_id {:?}; \
                                 keys must be the tenant id so a tenant's events stay in order",
                                commerce.envelope.tenant_id.as_str()
                            ),
                        )));
                    }
                    return Ok(Ok(commerce));
                }
                Err(error) if error.is_permanent() => {
                    return Ok(Err((DeadLetterReason::of(&error), reason(&error))));
                }
                Err(error) => {
                    tracing::warn!(%error, "Schema registry unavailable; retrying.");
                    pause(delays.next(), shutdown).await?;
                }
            }
        }
    }

    /// The transaction of step 2 on its own: dedup, order check, append,
    /// release. Commits only a [`Recorded::New`] event.
    async fn record(
        &self,
        commerce: &CommerceRecord,
        source: &EventSource,
    ) -> Result<Recorded, S::Error> {
        let mut work = self.store.begin().await?;
        let recorded = record_in(&mut work, commerce, source).await?;
        if let Recorded::New(_) = recorded {
            work.commit().await?;
        }
        // Otherwise dropped: rolled back.
        Ok(recorded)
    }

    /// Brings the tenant to its desired state: while it is not parked, runs
    /// the saga the reconciler plans (one at a time, each to its end), and when
    /// desired and provisioned agree releases the next waiting event. Returns
    /// when nothing is left to do, the tenant is parked, or a gap blocks.
    pub async fn settle(
        &self,
        tenant: &TenantId,
        shutdown: &CancellationToken,
    ) -> Result<(), ShuttingDown> {
        for _ in 0..MAX_SETTLE_ROUNDS {
            let next = self
                .retry(shutdown, "plan next saga", || self.next(tenant))
                .await?;
            match next {
                Next::Saga(saga) => match self.runner.drive(*saga, shutdown).await {
                    Ok(()) | Err(Interrupted::Stale) => {}
                    Err(Interrupted::Shutdown) => return Err(ShuttingDown),
                },
                Next::Released => {}
                Next::Blocked => return Ok(()),
            }
        }
        tracing::error!(tenant_id = %tenant, rounds = MAX_SETTLE_ROUNDS,
            "Tenant did not settle; it resumes with its next event.");
        Ok(())
    }

    /// One round of [`Ingest::settle`] in one transaction.
    async fn next(&self, tenant: &TenantId) -> Result<Next, S::Error> {
        let mut work = self.store.begin().await?;
        let next = next_in(&mut work, tenant).await?;
        work.commit().await?;
        Ok(next)
    }

    /// Retries an infrastructure operation with backoff until it succeeds or
    /// shutdown is requested; these errors never dead-letter a record.
    async fn retry<T, Error, F, Fut>(
        &self,
        shutdown: &CancellationToken,
        what: &str,
        mut op: F,
    ) -> Result<T, ShuttingDown>
    where
        Error: std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let mut delays = backoff().chain(std::iter::repeat(Duration::from_secs(5)));
        loop {
            match op().await {
                Ok(value) => return Ok(value),
                Err(error) => {
                    tracing::warn!(%error, operation = what, "Infrastructure error; retrying.");
                    pause(delays.next(), shutdown).await?;
                }
            }
        }
    }
}

/// What [`record_in`] did with a commerce event.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Recorded {
    /// Recorded: released (processed), stale or waiting.
    New(Admission),
    /// Already processed: a redelivery, nothing written.
    Duplicate,
    /// Its event id was already used by a *different* event (another tenant,
    /// sequence or kind): a producer bug, not a redelivery. Nothing is
    /// written; the record is dead-lettered with this reason instead of
    /// being dropped as a duplicate (case D2's dedup must not lose events).
    Conflict(String),
}

/// Records dedup, order check, append and release of `commerce` in `work`
/// (step 2). Only [`Recorded::New`] wrote anything.
async fn record_in<W: UnitOfWork>(
    work: &mut W,
    commerce: &CommerceRecord,
    source: &EventSource,
) -> Result<Recorded, W::Error> {
    let env = &commerce.envelope;
    if !work.mark_processed(commerce).await? {
        if let Some(seen) = work.recorded(env.event_id).await?
            && (&seen.tenant_id, seen.sequence, seen.kind.as_str())
                != (&env.tenant_id, env.sequence, commerce.event.kind())
        {
            return Ok(Recorded::Conflict(format!(
                "event_id: {} already identifies {} sequence {} of tenant \
                 {}; this {} sequence {} of tenant {} needs an id of its own",
                env.event_id,
                seen.kind,
                seen.sequence,
                seen.tenant_id,
                commerce.event.kind(),
                env.sequence,
                env.tenant_id
            )));
        }
        tracing::debug!(event_id = %env.event_id, "Duplicate commerce event ignored.");
        return Ok(Recorded::Duplicate);
    }
    let admission = admission::admit(work, commerce).await?;
    let state = match admission {
        Admission::Stale => {
            tracing::warn!(tenant_id = %env.tenant_id, sequence = env.sequence,
                "Stale commerce event recorded without effect.");
            EventState::Stale
        }
        Admission::Wait => {
            tracing::info!(tenant_id = %env.tenant_id, sequence = env.sequence,
                "Commerce event waits: tenant parked or sequence gap.");
            EventState::Waiting
        }
        Admission::Release => EventState::Processed,
    };
    let event = NewEvent {
        record: commerce.clone(),
        source: source.clone(),
        state,
    };
    work.append(&event).await?;
    match admission {
        Admission::Stale => {}
        Admission::Wait => admission::hold(work, commerce).await?,
        Admission::Release => admission::release(work, commerce).await?,
    }
    Ok(Recorded::New(admission))
}

/// One round of [`Ingest::settle`] in the caller's unit of work: nothing
/// while the tenant is parked (its ledger says so); else the saga the
/// reconciler plans, inserted here (or, planned before from the same
/// trigger and unfinished, resumed); else the next waiting event released.
async fn next_in<W: UnitOfWork>(work: &mut W, tenant: &TenantId) -> Result<Next, W::Error> {
    let record = work.tenant(tenant).await?;
    if record.ledger.parked.is_some() {
        return Ok(Next::Blocked);
    }
    if let (Some(plan), Some(trigger)) = (
        reconcile(&record.desired, &record.provisioned),
        record.desired.last_accepted.as_ref(),
    ) {
        let saga = SagaState::start(plan.kind, trigger, plan.spec);
        if work.insert_saga(&saga).await? {
            return Ok(Next::Saga(Box::new(saga)));
        }
        // Planned before from the same trigger: resume it if it is
        // unfinished; if it ended (failed and skipped by an operator),
        // release the next event instead of planning it again.
        if let Some(existing) = work.saga(saga.saga_id).await?
            && !existing.status.is_terminal()
        {
            return Ok(Next::Saga(Box::new(existing)));
        }
    }
    release_next(work, tenant).await
}

/// Releases the tenant's lowest waiting event, marks it stale, or parks the
/// tenant at the gap before it.
async fn release_next<W: UnitOfWork>(work: &mut W, tenant: &TenantId) -> Result<Next, W::Error> {
    let Some(next) = work.next_waiting(tenant).await? else {
        return Ok(Next::Blocked);
    };
    let event_id = next.envelope.event_id;
    let cursor = work.tenant(tenant).await?.ledger.commerce_sequence;
    match release_waiting(cursor, next.envelope.sequence) {
        Waiting::Release => {}
        Waiting::Stale => {
            work.set_event_state(event_id, EventState::Stale).await?;
            return Ok(Next::Released);
        }
        Waiting::Gap(reason) => {
            let parked = ParkedTenant {
                tenant_id: tenant.clone(),
                kind: ParkKind::SequenceGap,
                reason,
                saga_id: None,
                event_id: Some(event_id),
            };
            admission::park(work, &parked).await?;
            return Ok(Next::Blocked);
        }
    }
    work.set_event_state(event_id, EventState::Processed)
        .await?;
    admission::release(work, &next).await?;
    Ok(Next::Released)
}

/// Rounds of [`Ingest::settle`] before giving up on a tenant that does not
/// converge (a bug guard: every completed saga moves provisioned state
/// towards desired state, so a handful of rounds always suffices).
const MAX_SETTLE_ROUNDS: usize = 64;

/// Bound on one transaction of [`Ingest::handle_batch`]: the longest timeout
/// of a store-only step ([`tenantry_sagas::StepPolicy`] of step 6, 60 s).
const TOGETHER_DEADLINE: Duration = Duration::from_secs(60);

/// What [`Ingest::handle_batch`] committed in one transaction.
#[derive(Debug, Clone, Copy)]
enum Run {
    /// Every record.
    All,
    /// The records before this index; the record at it cannot finish in a
    /// transaction of several.
    UpTo(usize),
    /// Nothing: the store failed or the deadline passed.
    Failed,
}

/// Outcome of one settle round.
enum Next {
    /// A saga to drive.
    Saga(Box<SagaState>),
    /// An event was released (or found stale).
    Released,
    /// Nothing to do: parked, gap, or no waiting event.
    Blocked,
}

/// The sagas a batch committed (each completed: a batch stops before a
/// saga that does not), with their steps, which ran in the batch untimed.
fn emit_batch_sagas(sagas: &[SagaState], elapsed: Duration) {
    for saga in sagas {
        for step in saga.results.keys() {
            StepFinished {
                saga,
                step: *step,
                outcome: StepOutcome::Succeeded,
                duration: None,
                attempt: 1,
                reason: None,
            }
            .emit();
        }
        SagaFinished {
            saga,
            duration: elapsed,
            path: SagaPath::Batch,
        }
        .emit();
    }
}

/// `dlq.reason`: `<code>: <detail>` (`invalid: seats: must be between …`).
fn reason(error: &DecodeError) -> String {
    format!("{}: {}", error.code(), error.detail())
}

async fn pause(delay: Option<Duration>, shutdown: &CancellationToken) -> Result<(), ShuttingDown> {
    tokio::select! {
        () = shutdown.cancelled() => Err(ShuttingDown),
        () = tokio::time::sleep(delay.unwrap_or(Duration::from_secs(5))) => Ok(()),
    }
}
