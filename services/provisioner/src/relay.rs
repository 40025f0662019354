//! Outbox relay: claims outbox records ([`OutboxStore`]), publishes them to
//! `provisioning.events.v1` (key = tenant id), then removes them: a record
//! is removed only after the broker acknowledged it, and one whose claim
//! ends otherwise is claimed again with the same event id (case D6).
//!
//! One relay runs per provisioner process; rows of one tenant are published in
//! id order, which is their per-tenant sequence order.

use crate::backoff;
use crate::events::{RecordRelayed, now_ms};
use std::sync::Arc;
use std::time::Duration;
use tenantry_kafka::Producer;
use tenantry_sagas::{OutboxClaim, OutboxStore};
use tenantry_schemas::{Codec, RecordHeaders};
use tenantry_telemetry::metrics::Event;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

/// Rows claimed per batch.
pub const BATCH: usize = 256;

/// Polling interval when nobody wakes the relay (rows written by another process).
pub const IDLE_POLL: Duration = Duration::from_millis(200);

/// Runs until `shutdown`; on shutdown it drains what is pending first.
pub async fn run<S: OutboxStore>(
    store: S,
    producer: Producer,
    codec: Arc<Codec>,
    topic: String,
    wakeup: Arc<Notify>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut delays = backoff();
    loop {
        match publish_batch(&store, &producer, &codec, &topic).await {
            Ok(0) => {
                delays = backoff();
                if shutdown.is_cancelled() {
                    return Ok(());
                }
                tokio::select! {
                    () = wakeup.notified() => {}
                    () = tokio::time::sleep(IDLE_POLL) => {}
                    () = shutdown.cancelled() => {}
                }
            }
            Ok(_) => delays = backoff(),
            Err(error) => {
                if shutdown.is_cancelled() {
                    tracing::warn!(%error, "Relay stopping with rows pending; they are sent at the next start.");
                    return Ok(());
                }
                let delay = delays.next().unwrap_or(Duration::from_secs(5));
                tracing::warn!(%error, ?delay, "Outbox relay failed; retrying.");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// Publishes one batch; returns how many rows were published.
pub async fn publish_batch<S: OutboxStore>(
    store: &S,
    producer: &Producer,
    codec: &Codec,
    topic: &str,
) -> anyhow::Result<usize> {
    let claim = store.claim(BATCH).await?;
    let rows = claim.records();
    if rows.is_empty() {
        return Ok(0);
    }
    let mut payloads = Vec::with_capacity(rows.len());
    for row in rows {
        payloads.push(codec.encode_provisioning(topic, &row.record).await?);
    }
    // Enqueued in row order (futures are polled in order), so one tenant's
    // records keep their order; the idempotent producer keeps it on retries.
    let sends = rows.iter().zip(&payloads).map(|(row, payload)| async move {
        let headers = RecordHeaders::provisioning(&row.record);
        let tenant = row.record.envelope.tenant_id.as_str();
        // The trace of the commerce record whose processing wrote the row
        // goes on in the record's `traceparent` header.
        let span = tenantry_kafka::send_span(topic, tenant, None, row.traceparent.as_deref());
        let trace = tenantry_telemetry::trace::headers_of(&span);
        let mut pairs = headers.pairs().to_vec();
        pairs.extend(trace.pairs());
        let sent = producer
            .send(topic, tenant, payload, &pairs)
            .instrument(span)
            .await;
        if sent.is_ok() {
            // The envelope's `occurred_at` is the outbox row's write time.
            RecordRelayed::at(row.record.envelope.occurred_at_ms, now_ms()).emit();
        }
        sent
    });
    for result in futures_join(sends).await {
        result?;
    }
    let published = rows.len();
    claim.remove().await?;
    Ok(published)
}

async fn futures_join<I, F, T>(futures: I) -> Vec<T>
where
    I: IntoIterator<Item = F>,
    F: Future<Output = T>,
{
    futures::future::join_all(futures).await
}
