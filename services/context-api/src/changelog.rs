//! Keeping a [`ContextCache`] in step with the context changelog
//! (`tenant-context.changelog.v1`): every partition is read from its start
//! (no consumer group: each instance needs every tenant), each record's
//! [`ContextChange`] offered to the cache (a tombstone — key, no value —
//! removes the tenant: `tenantry replay` deleted its context), and the cache reported warm once
//! the reader has reached the end the partitions had.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tenantry_kafka::{KafkaConfig, KafkaError, Tail, TailEvent};
use tenantry_sagas::ContextChange;
use tenantry_schemas::TenantId;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::cache::ContextCache;
use crate::metrics::{CHANGELOG_LAG, CHANGELOG_RECORDS_TOTAL};

/// How long one attempt to find the changelog's partitions may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// Wait before looking for a changelog topic that does not exist yet, or
/// after the broker did not answer.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// How often the cache's size gauges are brought up to date while records
/// arrive.
const SIZE_EVERY: Duration = Duration::from_secs(1);

/// Where the follower stands; [`follow`] publishes it on a watch channel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FollowStatus {
    /// Every partition has been read to the end it had when the reader
    /// reached it: the cache holds every tenant's context as of then.
    pub caught_up: bool,
    /// Records read so far.
    pub records: u64,
    /// Why the reader is not reading, while it is not (topic missing,
    /// broker unreachable).
    pub waiting: Option<String>,
}

/// Starts following `topic` into `cache` until `shutdown`. Returns the
/// follower's status channel and its task.
///
/// A missing topic (the projector creates it) or an unreachable broker is
/// retried every second, logged once per cause; an undecodable record is
/// logged and skipped (only the projector writes the topic).
pub fn follow(
    kafka: KafkaConfig,
    topic: String,
    cache: Arc<ContextCache>,
    shutdown: CancellationToken,
) -> (watch::Receiver<FollowStatus>, JoinHandle<()>) {
    let (status, receiver) = watch::channel(FollowStatus::default());
    let task = tokio::spawn(async move {
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = run(&kafka, &topic, &cache, &status) => {}
        }
    });
    (receiver, task)
}

async fn run(
    kafka: &KafkaConfig,
    topic: &str,
    cache: &ContextCache,
    status: &watch::Sender<FollowStatus>,
) {
    let mut tail = loop {
        match Tail::start(kafka, topic, METADATA_TIMEOUT).await {
            Ok(tail) => break tail,
            Err(error) => {
                let reason = match &error {
                    KafkaError::UnknownTopic(_) => format!(
                        "changelog topic {topic} does not exist yet (the projector creates it)"
                    ),
                    other => format!("changelog topic {topic} cannot be read: {other}"),
                };
                if status.borrow().waiting.as_deref() != Some(reason.as_str()) {
                    tracing::warn!(%reason, "Context cache waiting for its changelog; retrying every second.");
                    status.send_modify(|s| s.waiting = Some(reason));
                }
                tokio::time::sleep(RETRY_AFTER).await;
            }
        }
    };
    status.send_modify(|s| s.waiting = None);
    tracing::info!(topic, "Context cache following the changelog.");
    let lag = metrics::histogram!(CHANGELOG_LAG);
    let stored = metrics::counter!(CHANGELOG_RECORDS_TOTAL, "outcome" => "stored");
    let not_newer = metrics::counter!(CHANGELOG_RECORDS_TOTAL, "outcome" => "not_newer");
    let undecodable = metrics::counter!(CHANGELOG_RECORDS_TOTAL, "outcome" => "undecodable");
    let removed = metrics::counter!(CHANGELOG_RECORDS_TOTAL, "outcome" => "removed");
    let mut sized_at = Instant::now();
    loop {
        let next = tail.next().await;
        // The cache's entry and byte gauges, at most once a second.
        if sized_at.elapsed() >= SIZE_EVERY {
            cache.size();
            sized_at = Instant::now();
        }
        match next {
            Ok(TailEvent::Record(record)) => {
                status.send_modify(|s| s.records += 1);
                // A tombstone: the tenant's context was deleted from the
                // store (a full `tenantry replay` found no tenant state of it).
                if record.payload.is_none()
                    && let Some(tenant) = record.key_str().and_then(|k| TenantId::parse(k).ok())
                {
                    cache.remove(&tenant);
                    removed.increment(1);
                    continue;
                }
                let change = record
                    .payload
                    .as_deref()
                    .ok_or_else(|| "no value".to_owned())
                    .and_then(|p| {
                        serde_json::from_slice::<ContextChange>(p).map_err(|e| e.to_string())
                    })
                    .and_then(|change| match record.key_str() {
                        Some(key) if key == change.context.tenant_id.as_str() => Ok(change),
                        key => Err(format!(
                            "key {key:?} is not the record's tenant {}",
                            change.context.tenant_id
                        )),
                    });
                match change {
                    Ok(change) => {
                        let span = record.process_span(None);
                        match span.in_scope(|| cache.apply(&change)) {
                            crate::cache::Offer::Stored => stored.increment(1),
                            crate::cache::Offer::NotNewer => not_newer.increment(1),
                        }
                        if let Some(written) = record.timestamp_ms {
                            lag.record(seconds_since(written));
                        }
                    }
                    Err(reason) => {
                        undecodable.increment(1);
                        tracing::warn!(topic, partition = record.partition, offset = record.offset,
                            %reason, "Changelog record skipped: it is not a context version.");
                    }
                }
            }
            Ok(TailEvent::CaughtUp) => {
                let (entries, bytes) = cache.size();
                let records = status.borrow().records;
                tracing::info!(
                    records,
                    entries,
                    bytes,
                    "Context cache warm: the changelog is read to its end."
                );
                status.send_modify(|s| s.caught_up = true);
            }
            Err(error) => {
                tracing::warn!(%error, "Reading the changelog failed; the client retries.");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Seconds from `written_ms` (milliseconds since the Unix epoch) to now,
/// 0 when the clock says the record is from the future.
fn seconds_since(written_ms: i64) -> f64 {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    (now_ms - written_ms).max(0) as f64 / 1000.0
}
