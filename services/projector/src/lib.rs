//! The projector: a consumer group on `provisioning.events.v1` — and on
//! nothing else — that keeps the tenant context store: each tenant's context
//! is the newest tenant state the provisioner published for it
//! (`tenantry_sagas::context`). The commerce topic has one reader, the
//! provisioner, so an event it has not released, or rejected, or
//! dead-lettered, never reaches an edge.
//!
//! - [`run`]: the live projection, in batches per poll: each tenant's records
//!   of the batch are folded and written once (one statement for the
//!   batch), with compare-and-set on the
//!   context's revision; offsets are stored after the writes commit.
//!   Duplicates and older records are no-ops (the fold's sequence guard).
//! - [`replay`]: rebuilds the store from the beginning of the topic.
//!
//! Records that do not decode are skipped with a warning: only Tenantry
//! writes the provisioning topic.

mod apply;
mod replay;

pub use apply::{apply_batch, decode};
pub use replay::{ReplayReport, replay};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tenantry_kafka::{Consumer, KafkaConfig, Record};
use tenantry_sagas::TenantContexts;
use tenantry_schemas::{Codec, ProvisioningRecord, TenantId, Topics};
use tokio_util::sync::CancellationToken;

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
}

/// Records applied per batch at most.
pub const BATCH_MAX: usize = 500;

/// How long a batch waits for more records after its first one.
pub const BATCH_WINDOW: Duration = Duration::from_millis(1);

/// Runs the live projection into `store` (any [`TenantContexts`]: the SQL
/// `tenantry_store::ContextStore` or another adapter chosen by
/// configuration) until `shutdown` is cancelled.
///
/// Records are applied in batches (up to [`BATCH_MAX`], gathered within
/// [`BATCH_WINDOW`]): one read of the batch's tenants' contexts and one
/// compare-and-set write of those that changed ([`apply_batch`]), then the
/// offsets are stored.
///
/// Errors: the Kafka consumer cannot be created (bad configuration).
pub async fn run(
    config: ProjectorConfig,
    store: Arc<dyn TenantContexts>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let topics = [config.topics.provisioning.as_str()];
    let consumer = Consumer::with_options(
        &config.kafka,
        &config.group_id,
        &topics,
        tenantry_kafka::ConsumerOptions {
            instance_id: config.instance_id.clone(),
            ..tenantry_kafka::ConsumerOptions::default()
        },
    )?;
    tracing::info!(group = %config.group_id, ?topics, "Projector consuming.");
    loop {
        // A batch: what arrives within BATCH_WINDOW of its first record, at
        // most BATCH_MAX records, applied with one read and one write per tenant.
        let first = tokio::select! {
            () = shutdown.cancelled() => break,
            record = consumer.recv() => record,
        };
        let mut batch = match first {
            Ok(record) => vec![record],
            Err(error) if error.is_fatal() => anyhow::bail!(
                "the Kafka consumer of group {} stopped for good ({}); is another projector \
                 running with the same --instance-id?",
                config.group_id,
                consumer.fatal_error().unwrap_or_else(|| error.to_string())
            ),
            Err(error) => {
                tracing::warn!(%error, "Kafka receive failed; retrying.");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let deadline = tokio::time::Instant::now() + BATCH_WINDOW;
        while batch.len() < BATCH_MAX {
            match tokio::time::timeout_at(deadline, consumer.recv()).await {
                Ok(Ok(record)) => batch.push(record),
                Ok(Err(error)) => {
                    tracing::warn!(%error, "Kafka receive failed.");
                    break;
                }
                Err(_) => break,
            }
        }
        let mut by_tenant: BTreeMap<TenantId, Vec<ProvisioningRecord>> = BTreeMap::new();
        for record in &batch {
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
                by_tenant
                    .entry(decoded.envelope.tenant_id.clone())
                    .or_default()
                    .push(decoded);
            }
        }
        loop {
            match apply_batch(store.as_ref(), &by_tenant).await {
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(%error, "Context store write failed; retrying.");
                    tokio::select! {
                        () = shutdown.cancelled() => return Ok(()),
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
        // Storing a partition's last record marks every earlier one done.
        let mut last: BTreeMap<(&str, i32), &Record> = BTreeMap::new();
        for record in &batch {
            last.insert((record.topic.as_str(), record.partition), record);
        }
        for record in last.into_values() {
            if let Err(error) = consumer.store(record) {
                // Revoked by a rebalance: the new owner re-reads it; the
                // fold's sequence guards make that harmless.
                tracing::debug!(%error, "Offset not stored.");
            }
        }
    }
    if let Err(error) = consumer.commit_now() {
        tracing::debug!(%error, "Final offset commit failed.");
    }
    Ok(())
}
