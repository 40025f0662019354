//! The projector: a consumer group on `provisioning.events.v1` — and on
//! nothing else — that keeps the tenant context store: each tenant's context
//! is the newest tenant state the provisioner published for it
//! (`tenantry_sagas::context`). The commerce topic has one reader, the
//! provisioner, so an event it has not released, or rejected, or
//! dead-lettered, never reaches an edge.
//!
//! - [`run`]: the live projection, in batches per poll: each tenant's records
//!   of the batch are folded and written once (one statement for the
//!   batch), with compare-and-set on the context's revision; then the
//!   batch's new context versions go to the compacted changelog topic
//!   (`tenant-context.changelog.v1`, key tenant id, value
//!   [`ContextChange`] as JSON) in one Kafka transaction with the batch's
//!   offsets, so a `read_committed` reader of the changelog sees every
//!   version the store took, in order per tenant. Duplicates and older
//!   records are no-ops (the fold's sequence guard).
//! - [`replay`]: rebuilds chosen tenants' contexts (or all) from the
//!   beginning of the topic and writes the differences with
//!   compare-and-set, publishing each on the changelog; or, as a dry run,
//!   only reports them.
//! - [`Changelog::Off`]: a projector that keeps a store without publishing
//!   (the green store of a blue-green rebuild, until the switch).
//!
//! Records that do not decode are skipped with a warning: only Tenantry
//! writes the provisioning topic.
//!
//! [`events`]: the notable events, each logged and counted together, and
//! the catalog of the projector's Prometheus metrics.
//!
//! Trace spans (DEBUG; only the trace layer enables them, when an OTLP
//! endpoint is configured): `process <topic>` per provisioning record
//! ([`tenantry_kafka::Record::process_span`]), continuing the relay's `send`
//! span from its `traceparent` header; `project`, the batch's context write
//! (its `db.*` span is the store's) and changelog publish, a child of the
//! first record's span linked to the others' ([`tenantry_telemetry::trace::batch`]).
//! Each changelog record carries the `traceparent` of its tenant's last
//! record's span, so the context API's cache continues that trace.

mod apply;
pub mod events;
mod replay;

pub use apply::{apply_batch, decode};
pub use replay::{
    ContextDiff, Difference, FieldChange, Missing, MissingContext, Mode, ReplayOptions,
    ReplayReport, Scope, field_changes, replay,
};
pub use tenantry_sagas::ContextChange;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tenantry_kafka::{Consumer, KafkaConfig};
use tenantry_sagas::TenantContexts;
use tenantry_schemas::{Codec, ProvisioningRecord, TenantId, Topics};
use tenantry_telemetry::metrics::Event as _;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

/// Projector settings.
#[derive(Clone)]
pub struct ProjectorConfig {
    /// Broker connection.
    pub kafka: KafkaConfig,
    /// Topic names.
    pub topics: Topics,
    /// Consumer group id (default `tenantry-projector`).
    pub group_id: String,
    /// Static group membership name (`group.instance.id`); `None`: dynamic.
    /// See [`tenantry_kafka::ConsumerOptions::instance_id`].
    pub instance_id: Option<String>,
    /// Record codec.
    pub codec: Arc<Codec>,
    /// Whether context changes go to the changelog topic.
    pub changelog: Changelog,
}

/// Whether a projector publishes its context changes on the changelog.
///
/// Exactly one projector group publishes the changelog of a set of topics:
/// the one whose store the context APIs read. Two publishing projectors on
/// two stores would interleave two revision sequences per tenant. A
/// projector keeping a second (green) store runs with [`Changelog::Off`]
/// until it becomes the store the APIs read (README, "Blue-green rebuild").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Changelog {
    /// Publish every new context version (the default).
    #[default]
    Publish,
    /// Publish nothing; offsets are still committed in the transaction.
    Off,
}

/// Records applied per batch at most.
pub const BATCH_MAX: usize = 500;

/// How long a batch waits for more records after its first one.
pub const BATCH_WINDOW: Duration = Duration::from_millis(1);

/// Runs the live projection into `store` (any [`TenantContexts`]: the SQL
/// `tenantry_store::ContextStore` or another adapter chosen by
/// configuration) until `shutdown` is cancelled, and publishes every new
/// context version on the changelog topic (created, compacted, when
/// missing).
///
/// Records are applied in batches (up to [`BATCH_MAX`], gathered within
/// [`BATCH_WINDOW`]): one read of the batch's tenants' contexts and one
/// compare-and-set write of those that changed ([`apply_batch`]); then, in
/// one Kafka transaction, the batch's context changes go to the changelog
/// and its offsets are committed. A failed transaction is aborted and the
/// projection starts again from the committed offsets (a new consumer
/// session): the store's compare-and-set makes the writes idempotent, and
/// [`apply_batch`] publishes again what the store already had.
///
/// Errors: the Kafka clients cannot be created (bad configuration), or a
/// fenced static member (`--instance-id` taken by another projector).
pub async fn run(
    config: ProjectorConfig,
    store: Arc<dyn TenantContexts>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let changelog = [(
        config.topics.changelog.as_str(),
        config.topics.changelog_partitions(),
    )];
    while let Err(error) = tenantry_kafka::ensure_compacted_topics(&config.kafka, &changelog).await
    {
        if !error.is_transient() {
            return Err(error.into());
        }
        tracing::warn!(%error, "Creating the changelog topic failed; retrying.");
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
    // One transactional id per process: stable under static membership, so
    // a restarted member aborts at once what its previous process left open.
    let transactional_id = match &config.instance_id {
        Some(instance) => format!("{}-{instance}", config.group_id),
        None => format!("{}-{}", config.group_id, uuid::Uuid::new_v4().simple()),
    };
    loop {
        match session(&config, store.as_ref(), &transactional_id, &shutdown).await {
            Ok(()) => return Ok(()),
            Err(Session::Fatal(error)) => return Err(error),
            Err(Session::Restart(error)) => {
                tracing::warn!(%error, "Projection restarts from the committed offsets.");
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(()),
                    () = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        }
    }
}

/// How a consumer session ended, other than by shutdown.
enum Session {
    /// For good.
    Fatal(anyhow::Error),
    /// A transaction failed: start again from the committed offsets.
    Restart(anyhow::Error),
}

/// One consumer session: records in, contexts and changelog out, until
/// shutdown or a failed transaction.
async fn session(
    config: &ProjectorConfig,
    store: &dyn TenantContexts,
    transactional_id: &str,
    shutdown: &CancellationToken,
) -> Result<(), Session> {
    let topics = [config.topics.provisioning.as_str()];
    let consumer = Consumer::with_options(
        &config.kafka,
        &config.group_id,
        &topics,
        tenantry_kafka::ConsumerOptions {
            instance_id: config.instance_id.clone(),
            transactional: true,
            lag_gauge: Some(events::CONSUMER_LAG),
            ..tenantry_kafka::ConsumerOptions::default()
        },
    )
    .map_err(|e| Session::Fatal(e.into()))?;
    let transaction = tenantry_kafka::Transaction::new(&config.kafka, transactional_id)
        .await
        .map_err(|e| {
            if e.is_transient() {
                Session::Restart(e.into())
            } else {
                Session::Fatal(e.into())
            }
        })?;
    tracing::info!(group = %config.group_id, ?topics, changelog = %config.topics.changelog,
        publish = match config.changelog {
            Changelog::Publish => "on",
            Changelog::Off => "off",
        },
        "Projector consuming.");
    loop {
        // A batch: what arrives within BATCH_WINDOW of its first record, at
        // most BATCH_MAX records, applied with one read and one write per tenant.
        let first = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            record = consumer.recv() => record,
        };
        let mut batch = match first {
            Ok(record) => {
                events::RecordConsumed {
                    topic: &record.topic,
                }
                .emit();
                vec![record]
            }
            Err(error) if error.is_fatal() => {
                return Err(Session::Fatal(anyhow::anyhow!(
                    "the Kafka consumer of group {} stopped for good ({}); is another projector \
                     running with the same --instance-id?",
                    config.group_id,
                    consumer.fatal_error().unwrap_or_else(|| error.to_string())
                )));
            }
            Err(error) => {
                tracing::warn!(%error, "Kafka receive failed; retrying.");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let deadline = tokio::time::Instant::now() + BATCH_WINDOW;
        while batch.len() < BATCH_MAX {
            match tokio::time::timeout_at(deadline, consumer.recv()).await {
                Ok(Ok(record)) => {
                    events::RecordConsumed {
                        topic: &record.topic,
                    }
                    .emit();
                    batch.push(record);
                }
                Ok(Err(error)) => {
                    tracing::warn!(%error, "Kafka receive failed.");
                    break;
                }
                Err(_) => break,
            }
        }
        let mut by_tenant: BTreeMap<TenantId, Vec<ProvisioningRecord>> = BTreeMap::new();
        // Each record's trace span; by tenant, its last record's.
        let mut record_spans = Vec::with_capacity(batch.len());
        let mut tenant_spans: BTreeMap<TenantId, tracing::Span> = BTreeMap::new();
        for record in &batch {
            let span = record.process_span(Some(&config.group_id));
            record_spans.push(span.clone());
            let decoded = loop {
                match decode(&config.codec, record).await {
                    Ok(decoded) => break decoded,
                    Err(error) => {
                        tracing::warn!(%error, "Schema registry unavailable; retrying.");
                        tokio::select! {
                            () = shutdown.cancelled() => return Ok(()),
                            () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                    }
                }
            };
            if let Some(decoded) = decoded {
                tenant_spans.insert(decoded.envelope.tenant_id.clone(), span);
                by_tenant
                    .entry(decoded.envelope.tenant_id.clone())
                    .or_default()
                    .push(decoded);
            }
        }
        let project = tenantry_telemetry::trace::batch("project", &record_spans);
        let changes = loop {
            match apply_batch(store, &by_tenant)
                .instrument(project.clone())
                .await
            {
                Ok(changes) => {
                    events::BatchProjected {
                        records: &batch,
                        changes: changes.len(),
                        written_at_ms: events::now_ms(),
                    }
                    .emit();
                    break changes;
                }
                Err(error) => {
                    tracing::warn!(%error, "Context store write failed; retrying.");
                    tokio::select! {
                        () = shutdown.cancelled() => return Ok(()),
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        };
        // The next offset to read of each partition: one past its last record.
        let mut next: BTreeMap<(String, i32), i64> = BTreeMap::new();
        for record in &batch {
            next.insert((record.topic.clone(), record.partition), record.offset + 1);
        }
        let offsets: Vec<(String, i32, i64)> = next
            .into_iter()
            .map(|((topic, partition), offset)| (topic, partition, offset))
            .collect();
        let published = publish(
            config,
            &consumer,
            &transaction,
            &changes,
            &tenant_spans,
            offsets,
        )
        .instrument(project)
        .await;
        if let Err(error) = published {
            if let Err(abort) = transaction.abort().await {
                tracing::debug!(error = %abort, "Abort failed.");
            }
            return Err(Session::Restart(error));
        }
    }
}

/// Publishes `changes` on the changelog and commits `offsets`, in one
/// transaction.
async fn publish(
    config: &ProjectorConfig,
    consumer: &Consumer,
    transaction: &tenantry_kafka::Transaction,
    changes: &[ContextChange],
    tenant_spans: &BTreeMap<TenantId, tracing::Span>,
    offsets: Vec<(String, i32, i64)>,
) -> anyhow::Result<()> {
    let group = consumer
        .group_metadata()
        .ok_or_else(|| anyhow::anyhow!("no consumer group metadata yet"))?;
    transaction.begin()?;
    let publish = match config.changelog {
        Changelog::Publish => changes,
        Changelog::Off => &[],
    };
    let payloads: Vec<(String, Vec<u8>)> = publish
        .iter()
        .map(|change| {
            let payload = serde_json::to_vec(change).expect("a context encodes as JSON");
            (change.context.tenant_id.to_string(), payload)
        })
        .collect();
    // Enqueued in order (a tenant's versions stay in order in its
    // partition), then awaited together.
    futures::future::try_join_all(publish.iter().zip(&payloads).map(
        |(change, (tenant, payload))| {
            // The changelog record continues its tenant's record's trace.
            let trace = tenant_spans
                .get(&change.context.tenant_id)
                .map(tenantry_telemetry::trace::headers_of)
                .unwrap_or_default();
            async move {
                let headers: Vec<(&str, &[u8])> = trace.pairs().collect();
                transaction
                    .send_with_headers(&config.topics.changelog, tenant, Some(payload), &headers)
                    .await
            }
        },
    ))
    .await?;
    transaction.commit(&offsets, group).await?;
    Ok(())
}
