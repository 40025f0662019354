//! One commerce record, end to end.
//!
//! 1. Decode and validate. A permanent decode error (not Confluent framing,
//!    unknown schema id, a field breaking a rule, a key that is not the
//!    envelope's tenant) goes to the dead-letter topic with the reason; an
//!    unreachable schema registry is retried, never dead-lettered (case D3).
//! 2. In one transaction: dedup by event id, decide its order (release, stale
//!    no-op, or wait behind a parked tenant or a sequence gap), append it to
//!    the tenant's event stream, apply guards, plan and insert the saga with
//!    its `SagaStarted` outbox row (cases D1, D2, D4).
//! 3. Settle the tenant: the reconciler compares desired and provisioned
//!    state and the saga that closes the gap runs to its end, again until they
//!    agree; then the tenant's waiting events are released in order. The
//!    caller stores the offset only after this returns.

use crate::backoff;
use crate::runner::{Interrupted, SagaRunner};
use sqlx::{Any, Transaction};
use std::sync::Arc;
use std::time::Duration;
use tenantry_kafka::{Producer, Record, dead_letter};
use tenantry_sagas::{SagaState, reconcile};
use tenantry_schemas::{Codec, CommerceRecord, DecodeError, TenantId};
use tenantry_store::inbox::{self, Source};
use tenantry_store::parking::{self, Admission, ParkKind};
use tenantry_store::{Store, StoreError, outbox, sagas, tenant_states};
use tokio_util::sync::CancellationToken;

/// Shutdown was requested while a record was in flight; its offset must not be stored.
#[derive(Debug)]
pub struct ShuttingDown;

/// What [`Ingest::handle`] needs.
pub struct Ingest {
    /// Saga and event store.
    pub store: Store,
    /// Record codec.
    pub codec: Arc<Codec>,
    /// Producer for the dead-letter topic.
    pub producer: Producer,
    /// Dead-letter topic.
    pub dlq_topic: String,
    /// Saga runner.
    pub runner: SagaRunner,
}

impl Ingest {
    /// Handles `record` completely; when it returns `Ok`, the record's effect is
    /// durable (or it is dead-lettered) and its offset may be stored.
    pub async fn handle(
        &self,
        record: &Record,
        shutdown: &CancellationToken,
    ) -> Result<(), ShuttingDown> {
        let decoded = self.decode(record, shutdown).await?;
        let commerce = match decoded {
            Ok(commerce) => commerce,
            Err(reason) => {
                tracing::warn!(topic = %record.topic, partition = record.partition,
                    offset = record.offset, %reason, "Record dead-lettered.");
                self.retry(shutdown, "dead-letter publish", || {
                    dead_letter(&self.producer, &self.dlq_topic, record, &reason)
                })
                .await?;
                return Ok(());
            }
        };
        let source = Source {
            topic: &record.topic,
            partition: record.partition,
            offset: record.offset,
        };
        self.retry(shutdown, "record commerce event", || {
            self.record(&commerce, &source)
        })
        .await?;
        self.settle(&commerce.envelope.tenant_id, shutdown).await
    }

    /// Decodes; `Ok(Err(reason))` is a permanent failure to dead-letter.
    async fn decode(
        &self,
        record: &Record,
        shutdown: &CancellationToken,
    ) -> Result<Result<CommerceRecord, String>, ShuttingDown> {
        let Some(payload) = record.payload.as_deref() else {
            return Ok(Err("empty record (tombstone) on the commerce topic".into()));
        };
        let mut delays = backoff().chain(std::iter::repeat(Duration::from_secs(5)));
        loop {
            match self.codec.decode_commerce(payload).await {
                Ok(commerce) => {
                    let key = record.key_str();
                    if key != Some(commerce.envelope.tenant_id.as_str()) {
                        return Ok(Err(format!(
                            "key: record key {key:?} is not the envelope's tenant_id {:?}; \
                             keys must be the tenant id so a tenant's events stay in order",
                            commerce.envelope.tenant_id.as_str()
                        )));
                    }
                    return Ok(Ok(commerce));
                }
                Err(error) if error.is_permanent() => return Ok(Err(reason(&error))),
                Err(error) => {
                    tracing::warn!(%error, "Schema registry unavailable; retrying.");
                    pause(delays.next(), shutdown).await?;
                }
            }
        }
    }

    /// The transaction of step 2: dedup, order check, append, plan. Returns
    /// the saga to drive, if one started.
    async fn record(
        &self,
        commerce: &CommerceRecord,
        source: &Source<'_>,
    ) -> Result<(), StoreError> {
        let env = &commerce.envelope;
        let mut tx = self.store.pool().begin().await?;
        if !inbox::mark_processed(&mut tx, commerce).await? {
            tracing::debug!(event_id = %env.event_id, "Duplicate commerce event ignored.");
            tx.rollback().await?;
            return Ok(());
        }
        match parking::admit(&mut tx, commerce).await? {
            Admission::Stale => {
                tracing::warn!(tenant_id = %env.tenant_id, sequence = env.sequence,
                    "Stale commerce event recorded without effect.");
                inbox::append(&mut tx, commerce, source, "stale").await?;
            }
            Admission::Wait => {
                tracing::info!(tenant_id = %env.tenant_id, sequence = env.sequence,
                    "Commerce event waits: tenant parked or sequence gap.");
                inbox::append(&mut tx, commerce, source, "waiting").await?;
            }
            Admission::Release => {
                inbox::append(&mut tx, commerce, source, "processed").await?;
                release(&mut tx, commerce).await?;
            }
        }
        tx.commit().await?;
        Ok(())
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
    async fn next(&self, tenant: &TenantId) -> Result<Next, StoreError> {
        let mut tx = self.store.pool().begin().await?;
        if parking::parked(&mut tx, tenant).await?.is_some() {
            tx.commit().await?;
            return Ok(Next::Blocked);
        }
        let (desired, provisioned) = tenant_states::load(&mut tx, tenant).await?;
        if let (Some(plan), Some(trigger)) = (
            reconcile(&desired, &provisioned),
            desired.last_accepted.as_ref(),
        ) {
            let (saga, started) = SagaState::start(plan.kind, trigger, plan.spec);
            if sagas::insert(&mut tx, &saga).await? {
                outbox::enqueue(&mut tx, &saga, vec![started]).await?;
                tx.commit().await?;
                return Ok(Next::Saga(Box::new(saga)));
            }
            // Planned before from the same trigger: resume it if it is
            // unfinished; if it ended (failed and skipped by an operator),
            // release the next event instead of planning it again.
            if let Some(existing) = sagas::load_in(&mut tx, saga.saga_id).await?
                && !existing.status.is_terminal()
            {
                tx.commit().await?;
                return Ok(Next::Saga(Box::new(existing)));
            }
        }
        let result = self.release_next(&mut tx, tenant).await?;
        tx.commit().await?;
        Ok(result)
    }

    async fn release_next(
        &self,
        tx: &mut Transaction<'static, Any>,
        tenant: &TenantId,
    ) -> Result<Next, StoreError> {
        let Some(next) = parking::next_waiting(tx, tenant).await? else {
            return Ok(Next::Blocked);
        };
        let event_id = next.envelope.event_id.to_string();
        let last = parking::cursor(tx, tenant).await?;
        if next.envelope.sequence <= last {
            parking::set_state(tx, &event_id, "stale").await?;
            return Ok(Next::Released);
        }
        if next.envelope.sequence > last + 1 {
            let reason = format!(
                "sequence gap: waiting for commerce sequence {}, received {}",
                last + 1,
                next.envelope.sequence
            );
            parking::park(
                tx,
                tenant,
                ParkKind::SequenceGap,
                &reason,
                None,
                Some(&event_id),
            )
            .await?;
            return Ok(Next::Blocked);
        }
        parking::set_state(tx, &event_id, "processed").await?;
        release(tx, &next).await?;
        Ok(Next::Released)
    }

    /// Retries an infrastructure operation with backoff until it succeeds or
    /// shutdown is requested; these errors never dead-letter a record.
    async fn retry<T, E, F, Fut>(
        &self,
        shutdown: &CancellationToken,
        what: &str,
        mut op: F,
    ) -> Result<T, ShuttingDown>
    where
        E: std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
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

/// Rounds of [`Ingest::settle`] before giving up on a tenant that does not
/// converge (a bug guard: every completed saga moves provisioned state
/// towards desired state, so a handful of rounds always suffices).
const MAX_SETTLE_ROUNDS: usize = 64;

/// Outcome of one settle round.
enum Next {
    /// A saga to drive.
    Saga(Box<SagaState>),
    /// An event was released (or found stale).
    Released,
    /// Nothing to do: parked, gap, or no waiting event.
    Blocked,
}

/// Releases a commerce event in the caller's transaction: advances the
/// tenant's cursor and applies it to the desired state, or records the guard's
/// rejection.
async fn release(
    tx: &mut Transaction<'static, Any>,
    commerce: &CommerceRecord,
) -> Result<(), StoreError> {
    let env = &commerce.envelope;
    parking::advance(tx, &env.tenant_id, env.sequence).await?;
    let (mut desired, provisioned) = tenant_states::load(tx, &env.tenant_id).await?;
    if let Err(rejection) = desired.apply(commerce) {
        tracing::warn!(event_id = %env.event_id, reason = %rejection.reason, "Commerce event rejected.");
        inbox::reject(tx, commerce, &rejection.reason).await?;
    }
    tenant_states::save(tx, &env.tenant_id, &desired, &provisioned).await
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
