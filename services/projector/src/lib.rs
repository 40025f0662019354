//! The projector: a consumer group on `commerce.lifecycle.v1` and
//! `provisioning.events.v1` that folds each record into the tenant context
//! store with the pure fold of `tenantry_sagas::context`.
//!
//! - [`run`]: the live projection. Each record is applied with
//!   compare-and-set on the context's revision; its offset is stored after the
//!   write commits. Duplicates are no-ops (the fold's sequence guard).
//! - [`replay`]: rebuilds the store from the beginning of both topics.
//!
//! Records that do not decode are skipped with a warning: on the commerce
//! topic the provisioner dead-letters them; on the provisioning topic only
//! Tenantry writes.

mod apply;
mod replay;

pub use apply::{Decoded, apply, decode};
pub use replay::{ReplayReport, replay};

use std::sync::Arc;
use std::time::Duration;
use tenantry_kafka::{Consumer, KafkaConfig};
use tenantry_schemas::{Codec, Topics};
use tenantry_store::ContextStore;
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
    /// Record codec.
    pub codec: Arc<Codec>,
}

/// Runs the live projection into `store` until `shutdown` is cancelled.
///
/// Errors: the Kafka consumer cannot be created (bad configuration).
pub async fn run(
    config: ProjectorConfig,
    store: ContextStore,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let topics = [
        config.topics.commerce.as_str(),
        config.topics.provisioning.as_str(),
    ];
    let consumer = Consumer::new(&config.kafka, &config.group_id, &topics)?;
    tracing::info!(group = %config.group_id, ?topics, "Projector consuming.");
    loop {
        let record = tokio::select! {
            () = shutdown.cancelled() => break,
            record = consumer.recv() => record,
        };
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                tracing::warn!(%error, "Kafka receive failed; retrying.");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let decoded = loop {
            match decode(&config.codec, &config.topics, &record).await {
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
            loop {
                match apply(&store, &decoded).await {
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
        }
        if let Err(error) = consumer.store(&record) {
            // Revoked by a rebalance: the new owner re-reads it; the fold's
            // sequence guard makes that harmless.
            tracing::debug!(%error, "Offset not stored.");
        }
    }
    if let Err(error) = consumer.commit_now() {
        tracing::debug!(%error, "Final offset commit failed.");
    }
    Ok(())
}
