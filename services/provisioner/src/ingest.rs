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
//! 3. Drive the saga, then release the tenant's waiting events in order. The
//!    caller stores the offset only after this returns.

use crate::backoff;
use crate::runner::{Interrupted, SagaRunner};
use sqlx::{Any, Transaction};
use std::sync::Arc;
use std::time::Duration;
use tenantry_kafka::{Producer, Record, dead_letter};
use tenantry_sagas::{SagaState, plan};
use tenantry_schemas::{Codec, CommerceEvent, CommerceRecord, DecodeError, TenantId};
use tenantry_store::inbox::{self, Source};
use tenantry_store::parking::{self, Admission, ParkKind};
use tenantry_store::{Store, StoreError, outbox, sagas};
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
        let saga = self
            .retry(shutdown, "record commerce event", || {
                self.record(&commerce, &source)
            })
            .await?;
        if let Some(saga) = saga {
            match self.runner.drive(saga, shutdown).await {
                Ok(()) | Err(Interrupted::Stale) => {}
                Err(Interrupted::Shutdown) => return Err(ShuttingDown),
            }
        }
        self.drain(&commerce.envelope.tenant_id, shutdown).await
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
    ) -> Result<Option<SagaState>, StoreError> {
        let env = &commerce.envelope;
        let mut tx = self.store.pool().begin().await?;
        if !inbox::mark_processed(&mut tx, commerce).await? {
            tracing::debug!(event_id = %env.event_id, "Duplicate commerce event ignored.");
            tx.rollback().await?;
            return Ok(None);
        }
        let saga = match parking::admit(&mut tx, commerce).await? {
            Admission::Stale => {
                tracing::warn!(tenant_id = %env.tenant_id, sequence = env.sequence,
                    "Stale commerce event recorded without effect.");
                inbox::append(&mut tx, commerce, source, "stale").await?;
                None
            }
            Admission::Wait => {
                tracing::info!(tenant_id = %env.tenant_id, sequence = env.sequence,
                    "Commerce event waits: tenant parked or sequence gap.");
                inbox::append(&mut tx, commerce, source, "waiting").await?;
                None
            }
            Admission::Release => {
                inbox::append(&mut tx, commerce, source, "processed").await?;
                release(&mut tx, commerce).await?
            }
        };
        tx.commit().await?;
        Ok(saga)
    }

    /// Releases waiting events of `tenant` in sequence order while it is not
    /// parked, driving each one's saga before the next.
    pub async fn drain(
        &self,
        tenant: &TenantId,
        shutdown: &CancellationToken,
    ) -> Result<(), ShuttingDown> {
        loop {
            let saga = self
                .retry(shutdown, "release waiting event", || {
                    self.release_next(tenant)
                })
                .await?;
            match saga {
                Next::Saga(saga) => match self.runner.drive(*saga, shutdown).await {
                    Ok(()) | Err(Interrupted::Stale) => {}
                    Err(Interrupted::Shutdown) => return Err(ShuttingDown),
                },
                Next::Released => {}
                Next::Blocked => return Ok(()),
            }
        }
    }

    async fn release_next(&self, tenant: &TenantId) -> Result<Next, StoreError> {
        let mut tx = self.store.pool().begin().await?;
        if parking::parked(&mut tx, tenant).await?.is_some() {
            tx.commit().await?;
            return Ok(Next::Blocked);
        }
        let Some(next) = parking::next_waiting(&mut tx, tenant).await? else {
            tx.commit().await?;
            return Ok(Next::Blocked);
        };
        let event_id = next.envelope.event_id.to_string();
        let last = parking::cursor(&mut tx, tenant).await?;
        let result = if next.envelope.sequence <= last {
            parking::set_state(&mut tx, &event_id, "stale").await?;
            Next::Released
        } else if next.envelope.sequence > last + 1 {
            let reason = format!(
                "sequence gap: waiting for commerce sequence {}, received {}",
                last + 1,
                next.envelope.sequence
            );
            parking::park(
                &mut tx,
                tenant,
                ParkKind::SequenceGap,
                &reason,
                None,
                Some(&event_id),
            )
            .await?;
            Next::Blocked
        } else {
            parking::set_state(&mut tx, &event_id, "processed").await?;
            match release(&mut tx, &next).await? {
                Some(saga) => Next::Saga(Box::new(saga)),
                None => Next::Released,
            }
        };
        tx.commit().await?;
        Ok(result)
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

/// Outcome of releasing one waiting event.
enum Next {
    /// A saga started: drive it.
    Saga(Box<SagaState>),
    /// Released without a saga (or stale).
    Released,
    /// Nothing to release: parked, gap, or no waiting event.
    Blocked,
}

/// Plans a released event in the caller's transaction: guards, tenant spec,
/// saga row and its `saga_started` outbox row. Returns the saga to drive.
async fn release(
    tx: &mut Transaction<'static, Any>,
    commerce: &CommerceRecord,
) -> Result<Option<SagaState>, StoreError> {
    let env = &commerce.envelope;
    parking::advance(tx, &env.tenant_id, env.sequence).await?;
    let existing = inbox::load_tenant(tx, &env.tenant_id).await?;
    if matches!(commerce.event, CommerceEvent::TenantCreated(_)) && existing.is_some() {
        let reason = format!(
            "tenant {} was already created; tenant_created ignored",
            env.tenant_id
        );
        tracing::warn!(event_id = %env.event_id, %reason, "Commerce event rejected.");
        inbox::reject(tx, commerce, &reason).await?;
        return Ok(None);
    }
    match plan(commerce, existing.as_ref()) {
        Ok(Some(plan)) => {
            if existing.is_none() {
                inbox::save_tenant(tx, &env.tenant_id, &plan.spec.tenant).await?;
            }
            let (saga, started) = SagaState::start(plan.kind, env, plan.spec);
            if sagas::insert(tx, &saga).await? {
                outbox::enqueue(tx, &saga, vec![started]).await?;
                Ok(Some(saga))
            } else {
                Ok(None)
            }
        }
        Ok(None) => Ok(None),
        Err(error) => {
            let reason = error.to_string();
            tracing::warn!(event_id = %env.event_id, %reason, "Commerce event rejected.");
            inbox::reject(tx, commerce, &reason).await?;
            Ok(None)
        }
    }
}

fn reason(error: &DecodeError) -> String {
    format!("{}: {error}", error.code())
}

async fn pause(delay: Option<Duration>, shutdown: &CancellationToken) -> Result<(), ShuttingDown> {
    tokio::select! {
        () = shutdown.cancelled() => Err(ShuttingDown),
        () = tokio::time::sleep(delay.unwrap_or(Duration::from_secs(5))) => Ok(()),
    }
}
