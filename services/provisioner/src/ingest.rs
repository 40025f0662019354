//! One commerce record, end to end.
//!
//! 1. Decode and validate. A permanent decode error (not Confluent framing,
//!    unknown schema id, a field breaking a rule, a key that is not the
//!    envelope's tenant) goes to the dead-letter topic with the reason; an
//!    unreachable schema registry is retried, never dead-lettered (case D3).
//! 2. In one transaction: dedup by event id, append to the tenant's event
//!    stream, apply guards, plan and insert the saga with its `SagaStarted`
//!    outbox row (cases D1, D2).
//! 3. Drive the saga. The caller stores the offset only after this returns.

use crate::backoff;
use crate::runner::{Interrupted, SagaRunner};
use std::sync::Arc;
use std::time::Duration;
use tenantry_kafka::{Producer, Record, dead_letter};
use tenantry_sagas::{SagaState, plan};
use tenantry_schemas::{Codec, CommerceEvent, CommerceRecord, DecodeError};
use tenantry_store::inbox::{self, Source};
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
        Ok(())
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

    /// The transaction of step 2. Returns the saga to drive, if one started.
    async fn record(
        &self,
        commerce: &CommerceRecord,
        source: &Source<'_>,
    ) -> Result<Option<SagaState>, StoreError> {
        let env = &commerce.envelope;
        let mut tx = self.store.pool().begin().await?;
        if !inbox::record_commerce(&mut tx, commerce, source).await? {
            tracing::debug!(event_id = %env.event_id, "Duplicate commerce event ignored.");
            tx.rollback().await?;
            return Ok(None);
        }
        let existing = inbox::load_tenant(&mut tx, &env.tenant_id).await?;
        if matches!(commerce.event, CommerceEvent::TenantCreated(_)) && existing.is_some() {
            let reason = format!(
                "tenant {} was already created; tenant_created ignored",
                env.tenant_id
            );
            tracing::warn!(event_id = %env.event_id, %reason, "Commerce event rejected.");
            inbox::reject(&mut tx, commerce, &reason).await?;
            tx.commit().await?;
            return Ok(None);
        }
        let saga = match plan(commerce, existing.as_ref()) {
            Ok(Some(plan)) => {
                if existing.is_none() {
                    inbox::save_tenant(&mut tx, &env.tenant_id, &plan.spec.tenant).await?;
                }
                let (saga, started) = SagaState::start(plan.kind, env, plan.spec);
                if sagas::insert(&mut tx, &saga).await? {
                    outbox::enqueue(&mut tx, &saga, vec![started]).await?;
                    Some(saga)
                } else {
                    None
                }
            }
            Ok(None) => None,
            Err(error) => {
                let reason = error.to_string();
                tracing::warn!(event_id = %env.event_id, %reason, "Commerce event rejected.");
                inbox::reject(&mut tx, commerce, &reason).await?;
                None
            }
        };
        tx.commit().await?;
        Ok(saga)
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

fn reason(error: &DecodeError) -> String {
    format!("{}: {error}", error.code())
}

async fn pause(delay: Option<Duration>, shutdown: &CancellationToken) -> Result<(), ShuttingDown> {
    tokio::select! {
        () = shutdown.cancelled() => Err(ShuttingDown),
        () = tokio::time::sleep(delay.unwrap_or(Duration::from_secs(5))) => Ok(()),
    }
}
