//! The provisioner: consumer group on `commerce.lifecycle.v1` → dedup and event
//! stream → saga plan → saga runner → outbox → relay to `provisioning.events.v1`.
//!
//! - [`ingest`]: one commerce record end to end: decode, validate, dead-letter
//!   or record + plan in one transaction; the offset is stored only after it commits.
//! - [`runner`]: drives a saga through its steps with retries and compensations,
//!   persisting each transition (compare-and-set) with its outbox rows.
//! - [`relay`]: publishes outbox rows.
//! - [`operator`]: operator retry/skip of parked tenants and the retry
//!   schedule of failed compensations.
//!
//! [`run`] wires them; binaries and tests call it with a shutdown token.

pub mod ingest;
pub mod operator;
pub mod relay;
pub mod runner;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tenantry_kafka::{Consumer, KafkaConfig, Producer};
use tenantry_schemas::{Codec, Topics};
use tenantry_store::{EffectsConfig, LocalEffects, ProductDatabases, Store};
use tokio_util::sync::CancellationToken;

/// Where product databases (step 6) are created.
#[derive(Debug, Clone)]
pub enum ProductDbTarget {
    /// A schema per tenant and product on the provisioner's PostgreSQL server.
    PostgresSchemas,
    /// A SQLite file per tenant and product in this directory (embedded mode).
    SqliteDir(PathBuf),
}

/// Provisioner settings.
#[derive(Clone)]
pub struct ProvisionerConfig {
    /// Broker connection.
    pub kafka: KafkaConfig,
    /// Topic names.
    pub topics: Topics,
    /// Consumer group id (default `tenantry-provisioner`).
    pub group_id: String,
    /// Saga/event store URL (`postgres://…` or `sqlite://…`).
    pub database_url: String,
    /// Where product databases go.
    pub product_databases: ProductDbTarget,
    /// Step adapter settings.
    pub effects: EffectsConfig,
    /// Attempts per step before a retryable failure counts as permanent.
    pub step_attempts: usize,
    /// Codec (schema registry) for records.
    pub codec: Arc<Codec>,
}

/// Runs the provisioner until `shutdown` is cancelled: resumes unfinished
/// sagas, starts the outbox relay, then consumes commerce events.
///
/// Errors: the store is unreachable at start-up after retries, or the Kafka
/// clients cannot be created (bad configuration).
pub async fn run(config: ProvisionerConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    let store = connect_store(&config.database_url, &shutdown).await?;
    let databases = match &config.product_databases {
        ProductDbTarget::PostgresSchemas => ProductDatabases::PostgresSchemas(store.pool().clone()),
        ProductDbTarget::SqliteDir(dir) => ProductDatabases::SqliteFiles(dir.clone()),
    };
    let effects = LocalEffects::new(store.clone(), databases, config.effects.clone());
    let relay_wakeup = Arc::new(tokio::sync::Notify::new());
    let runner = runner::SagaRunner::new(
        store.clone(),
        effects,
        config.step_attempts,
        relay_wakeup.clone(),
    );
    let producer = Producer::new(&config.kafka)?;
    let relay = tokio::spawn(relay::run(
        store.clone(),
        producer.clone(),
        config.codec.clone(),
        config.topics.provisioning.clone(),
        relay_wakeup,
        shutdown.clone(),
    ));

    runner.resume_unfinished(&shutdown).await?;

    let consumer = Consumer::new(
        &config.kafka,
        &config.group_id,
        &[config.topics.commerce.as_str()],
    )?;
    let ingest = ingest::Ingest {
        store,
        codec: config.codec.clone(),
        producer,
        dlq_topic: config.topics.commerce_dlq.clone(),
        runner,
    };
    tracing::info!(group = %config.group_id, topic = %config.topics.commerce, "Provisioner consuming.");
    let mut operator_tick = tokio::time::interval(operator::OPERATOR_POLL);
    let mut compensation_tick = tokio::time::interval(operator::COMPENSATION_RETRY);
    loop {
        let record = tokio::select! {
            () = shutdown.cancelled() => break,
            _ = operator_tick.tick() => {
                if operator::carry_out(&ingest, &shutdown).await.is_err() {
                    break;
                }
                continue;
            }
            _ = compensation_tick.tick() => {
                if operator::retry_compensations(&ingest, &shutdown).await.is_err() {
                    break;
                }
                continue;
            }
            record = consumer.recv() => record,
        };
        match record {
            Ok(record) => {
                if ingest.handle(&record, &shutdown).await.is_err() {
                    break; // shutting down mid-record: leave its offset unstored
                }
                consumer.store(&record)?;
            }
            Err(error) => {
                tracing::warn!(%error, "Kafka receive failed; retrying.");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    if let Err(error) = consumer.commit_now() {
        tracing::debug!(%error, "Final offset commit failed.");
    }
    relay.await??;
    Ok(())
}

/// Connects to the store, retrying with backoff while it is unreachable.
pub async fn connect_store(url: &str, shutdown: &CancellationToken) -> anyhow::Result<Store> {
    let mut delays = backoff();
    loop {
        match Store::connect(url, 8).await {
            Ok(store) => return Ok(store),
            Err(error) => {
                let Some(delay) = delays.next() else {
                    anyhow::bail!("database {} unreachable: {error}", redact(url));
                };
                tracing::warn!(%error, "Database unreachable; retrying.");
                tokio::select! {
                    () = shutdown.cancelled() => anyhow::bail!("shut down while connecting"),
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

/// Exponential backoff with jitter: 100 ms doubling to 5 s, 10 attempts.
pub(crate) fn backoff() -> impl Iterator<Item = Duration> {
    use backon::BackoffBuilder;
    backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(5))
        .with_max_times(10)
        .with_jitter()
        .build()
}

fn redact(url: &str) -> String {
    match url.split_once('@') {
        Some((scheme_user, host)) => {
            let scheme = scheme_user.split("//").next().unwrap_or("");
            format!("{scheme}//***@{host}")
        }
        None => url.to_owned(),
    }
}
