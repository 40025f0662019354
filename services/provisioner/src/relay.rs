//! Outbox relay: claims outbox rows, publishes them to `provisioning.events.v1`
//! (key = tenant id), then removes them and commits: one transaction per batch. See
//! `tenantry_store::outbox` for why no row is skipped or lost (case D6).
//!
//! One relay runs per provisioner process; rows of one tenant are published in
//! id order, which is their per-tenant sequence order.

use crate::backoff;
use std::sync::Arc;
use std::time::Duration;
use tenantry_kafka::Producer;
use tenantry_schemas::{Codec, RecordHeaders};
use tenantry_store::{Store, outbox};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Rows claimed per batch.
pub const BATCH: i64 = 256;

/// Polling interval when nobody wakes the relay (rows written by another process).
pub const IDLE_POLL: Duration = Duration::from_millis(200);

/// Runs until `shutdown`; on shutdown it drains what is pending first.
pub async fn run(
    store: Store,
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
pub async fn publish_batch(
    store: &Store,
    producer: &Producer,
    codec: &Codec,
    topic: &str,
) -> anyhow::Result<usize> {
    let mut tx = store.pool().begin().await?;
    let rows = outbox::claim(&mut tx, store.backend(), BATCH).await?;
    if rows.is_empty() {
        tx.commit().await?;
        return Ok(0);
    }
    let mut payloads = Vec::with_capacity(rows.len());
    for row in &rows {
        payloads.push(codec.encode_provisioning(topic, &row.record).await?);
    }
    // Enqueued in row order (futures are polled in order), so one tenant's
    // records keep their order; the idempotent producer keeps it on retries.
    let sends = rows.iter().zip(&payloads).map(|(row, payload)| async move {
        let headers = RecordHeaders::provisioning(&row.record);
        producer
            .send(
                topic,
                row.record.envelope.tenant_id.as_str(),
                payload,
                &headers.pairs(),
            )
            .await
    });
    for result in futures_join(sends).await {
        result?;
    }
    // The commit is what marks the rows published.
    outbox::remove_published(&mut tx, store.backend(), &rows).await?;
    tx.commit().await?;
    Ok(rows.len())
}

async fn futures_join<I, F, T>(futures: I) -> Vec<T>
where
    I: IntoIterator<Item = F>,
    F: Future<Output = T>,
{
    futures::future::join_all(futures).await
}
