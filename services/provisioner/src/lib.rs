//! The provisioner: consumer group on `commerce.lifecycle.v1` → dedup and event
//! stream → saga plan → saga runner → outbox → relay to `provisioning.events.v1`.
//!
//! - [`ingest`]: one commerce record end to end: decode, validate, dead-letter
//!   or record + plan in one transaction; the offset is stored only after it commits.
//! - [`batch`] and [`steps`]: the records a worker holds, decided in memory
//!   as one unit of work and committed at once.
//! - [`admission`]: per-tenant order and parking, written in a unit of work.
//! - [`runner`]: drives a saga through its steps with retries and compensations,
//!   persisting each transition (compare-and-set) with its outbox rows.
//! - [`relay`]: publishes outbox rows.
//! - [`operator`]: operator retry/skip of parked tenants and the retry
//!   schedule of failed compensations.
//! - [`dead_letter`]: where records that cannot be decoded or accepted go.
//! - [`effects`]: the production step effects.
//! - [`events`]: the notable events, each logged and counted together, and
//!   the catalog of the provisioner's Prometheus metrics.
//!
//! The ingest, runner, operator and workers reach storage only through
//! [`tenantry_sagas::ProvisionerStore`] and its
//! [`tenantry_sagas::UnitOfWork`], so they run on PostgreSQL, SQLite or in
//! memory (`tenantry_store::memory`, their unit tests). [`run`] wires the
//! production parts; binaries and tests call it with a shutdown token.

pub mod admission;
pub mod batch;
pub mod dead_letter;
pub mod dispatch;
pub mod effects;
pub mod events;
pub mod ingest;
pub mod operator;
pub mod rds;
pub mod relay;
pub mod runner;
pub mod spans;
pub mod steps;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
pub use steps::{EffectsConfig, Retention};
use tenantry_kafka::{Consumer, ConsumerOptions, KafkaConfig, Producer};
use tenantry_sagas::ProvisionerStore;
use tenantry_schemas::{Codec, Topics};
use tenantry_store::{ProductDatabases, Store, StoreError};
use tenantry_telemetry::metrics::Event as _;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Where product databases (step 6) are created.
#[derive(Debug, Clone)]
pub enum ProductDbTarget {
    /// A schema per tenant and product on the provisioner's PostgreSQL server.
    PostgresSchemas,
    /// A SQLite file per tenant and product in this directory (embedded mode).
    SqliteDir(PathBuf),
    /// Shards are RDS instances made by this control plane; the schemas
    /// inside them are created on the PostgreSQL server at `data_plane`
    /// (a `postgres://` URL), outside the store's transactions ([`rds`]).
    Rds {
        /// The RDS control plane.
        control_plane: Arc<tenantry_rds::RdsShards>,
        /// Where every instance's databases are reached.
        data_plane: String,
    },
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
    /// Static group membership name (`group.instance.id`); `None`: dynamic.
    /// See [`ConsumerOptions::instance_id`].
    pub instance_id: Option<String>,
    /// Saga/event store URL (`postgres://…` or `sqlite://…`).
    pub database_url: String,
    /// Where product databases go.
    pub product_databases: ProductDbTarget,
    /// Step adapter settings.
    pub effects: EffectsConfig,
    /// Upper bound on attempts per step (each step's policy may allow fewer).
    pub step_attempts: usize,
    /// Parallel workers; a tenant's records always go to the same one.
    pub workers: usize,
    /// Codec (schema registry) for records.
    pub codec: Arc<Codec>,
    /// Registered apps and the egress allow-list for lifecycle callbacks.
    pub apps: tenantry_apps::AppsConfig,
    /// Tenant data keys (created with the tenant, destroyed with it).
    pub keys: Arc<dyn tenantry_keys::KeyService>,
}

/// Runs the provisioner until `shutdown` is cancelled: resumes unfinished
/// sagas, starts the outbox relay, then consumes commerce events.
///
/// Errors: the store is unreachable at start-up after retries, or the Kafka
/// clients cannot be created (bad configuration).
pub async fn run(config: ProvisionerConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    // Cancelled with the caller's token, or by this provisioner alone when its
    // consumer fails for good (a fenced static member).
    let shutdown = shutdown.child_token();
    // Per worker: its transaction, and a second connection for what must
    // commit on its own while that transaction is open (a new shard).
    let connections = 2 * config.workers as u32 + 4;
    let store = connect_store(&config.database_url, connections, &shutdown).await?;
    let rows = steps::StoreShards {
        store: store.clone(),
        capacity: config.effects.shard_capacity,
    };
    let (databases, shards): (
        Arc<dyn steps::DatabaseServers>,
        Arc<dyn steps::ShardProvisioner>,
    ) = match &config.product_databases {
        ProductDbTarget::PostgresSchemas => (
            Arc::new(ProductDatabases::PostgresSchemas(store.pool().clone())),
            Arc::new(rows),
        ),
        ProductDbTarget::SqliteDir(dir) => (
            Arc::new(ProductDatabases::SqliteFiles(dir.clone())),
            Arc::new(rows),
        ),
        ProductDbTarget::Rds {
            control_plane,
            data_plane,
        } => {
            // One connection of its own first, bounded: the pool retries a
            // refused connection until its acquire timeout (30 s) and then
            // reports only `PoolTimedOut`, hiding the cause and the server.
            const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
            let server = tenantry_store::masked(data_plane);
            let cannot = |cause: &dyn std::fmt::Display| {
                let cause = cause
                    .to_string()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                anyhow::anyhow!(
                    "rds_data_plane: cannot connect to the data plane {server}: {cause}"
                )
            };
            let first = tokio::time::timeout(
                CONNECT_TIMEOUT,
                <sqlx::AnyConnection as sqlx::Connection>::connect(data_plane),
            )
            .await
            .map_err(|_| cannot(&format_args!("no connection after {CONNECT_TIMEOUT:?}")))?
            .map_err(|e| cannot(&e))?;
            // Only a probe: the pool opens its own.
            let _ = sqlx::Connection::close(first).await;
            let pool = sqlx::any::AnyPoolOptions::new()
                .max_connections(config.workers as u32 + 2)
                .connect(data_plane)
                .await
                .map_err(|e| cannot(&e))?;
            (
                Arc::new(rds::DataPlane(ProductDatabases::PostgresSchemas(pool))),
                Arc::new(rds::RdsStoreShards {
                    rows,
                    rds: Arc::clone(control_plane),
                }),
            )
        }
    };
    let step_context = steps::StepContext {
        config: config.effects.clone(),
        keys: config.keys.clone(),
        apps: tenantry_apps::AppClient::new(config.apps.clone())?,
        databases,
        shards,
    };
    let effects = effects::Effects {
        steps: step_context.clone(),
        store: store.clone(),
    };
    let relay_wakeup = Arc::new(tokio::sync::Notify::new());
    let runner = runner::SagaRunner::new(
        store.clone(),
        effects,
        config.step_attempts,
        relay_wakeup.clone(),
    );
    let producer = Producer::new(&config.kafka)?;
    let sampler = tokio::spawn(sample_store(store.clone(), shutdown.clone()));
    let relay = tokio::spawn(relay::run(
        store.clone(),
        producer.clone(),
        config.codec.clone(),
        config.topics.provisioning.clone(),
        relay_wakeup,
        shutdown.clone(),
    ));

    // A store written by the contract before tenant states: rebuild each
    // tenant's ledger from the admission tables and publish its state once,
    // before any of its events is handled.
    let unmigrated = tenantry_store::tenant_states::unmigrated(store.pool()).await?;
    if !unmigrated.is_empty() {
        let count = tenantry_store::tenant_states::republish(store.pool(), &unmigrated).await?;
        tracing::info!(
            count,
            "Tenant records of the previous contract rebuilt and published."
        );
        runner.wake_relay();
    }
    runner.resume_unfinished(&shutdown).await?;

    let consumer = Consumer::with_options(
        &config.kafka,
        &config.group_id,
        &[config.topics.commerce.as_str()],
        ConsumerOptions {
            instance_id: config.instance_id.clone(),
            lag_gauge: Some(events::CONSUMER_LAG),
            ..ConsumerOptions::default()
        },
    )?;
    let ingest = Arc::new(ingest::Ingest {
        store: store.clone(),
        codec: config.codec.clone(),
        dead_letters: dead_letter::KafkaDeadLetters {
            producer,
            topic: config.topics.commerce_dlq.clone(),
        },
        runner,
        steps: step_context,
    });
    let workers = config.workers.max(1);
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let mut queues = Vec::with_capacity(workers);
    let mut handles = Vec::with_capacity(workers);
    for _ in 0..workers {
        let (tx, rx) = mpsc::channel(WORKER_QUEUE);
        queues.push(tx);
        handles.push(tokio::spawn(dispatch::worker(
            ingest.clone(),
            rx,
            done_tx.clone(),
            shutdown.clone(),
        )));
    }
    drop(done_tx);
    tracing::info!(group = %config.group_id, instance = config.instance_id.as_deref().unwrap_or("(dynamic)"),
        topic = %config.topics.commerce, workers, "Provisioner consuming.");
    let mut tracker = dispatch::OffsetTracker::default();
    let mut operator_tick = tokio::time::interval(operator::OPERATOR_POLL);
    let mut compensation_tick = tokio::time::interval(operator::COMPENSATION_RETRY);
    let route = |key: &str| &queues[dispatch::worker_for(key, workers)];
    let mut fatal = None;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            Some(position) = done_rx.recv() => store_finished(&consumer, &mut tracker, &position),
            _ = operator_tick.tick() => {
                // Only the requests of tenants on this replica's partitions:
                // their events are handled here, and nowhere else.
                let owned = match consumer.assignment() {
                    Ok(owned) => owned,
                    Err(error) => {
                        tracing::warn!(%error, "Reading the partition assignment failed.");
                        continue;
                    }
                };
                match store.take_operator_requests(&owned).await {
                    Ok(requests) => {
                        for (tenant, action) in requests {
                            let queue = route(tenant.as_str());
                            let _ = queue.send(dispatch::Job::Operator(tenant, action)).await;
                        }
                    }
                    Err(error) => tracing::warn!(%error, "Reading operator requests failed."),
                }
            }
            _ = compensation_tick.tick() => {
                match store.compensation_failed().await {
                    Ok(sagas) => {
                        for (saga_id, tenant) in sagas {
                            let _ = route(tenant.as_str()).send(dispatch::Job::RetryCompensation(saga_id)).await;
                        }
                    }
                    Err(error) => tracing::warn!(%error, "Reading failed compensations failed."),
                }
            }
            record = consumer.recv() => match record {
                Ok(record) => {
                    events::RecordConsumed { topic: &record.topic }.emit();
                    tracker.begin(&dispatch::Position::of(&record));
                    let queue = route(record.key_str().unwrap_or(""));
                    if queue.send(dispatch::Job::Record(record)).await.is_err() {
                        break;
                    }
                }
                Err(error) if error.is_fatal() => {
                    fatal = Some(consumer.fatal_error().unwrap_or_else(|| error.to_string()));
                    shutdown.cancel();
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, "Kafka receive failed; retrying.");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            },
        }
    }
    // Stop handing out work; let workers finish (or abandon, on shutdown) what
    // they hold, store what finished, commit.
    drop(queues);
    for handle in handles {
        let _ = handle.await;
    }
    while let Ok(position) = done_rx.try_recv() {
        store_finished(&consumer, &mut tracker, &position);
    }
    if let Err(error) = consumer.commit_now() {
        tracing::debug!(%error, "Final offset commit failed.");
    }
    relay.await??;
    let _ = sampler.await;
    match fatal {
        // Work in flight was abandoned unstored: the member that fenced this one
        // owns those partitions now and redelivery plus dedup cover it.
        Some(reason) => anyhow::bail!(
            "the Kafka consumer of group {} stopped for good ({reason}); is another provisioner \
             running with the same --instance-id?",
            config.group_id
        ),
        None => Ok(()),
    }
}

/// How often the store's counts behind the `parked_tenants` and
/// `outbox_backlog` gauges are read.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(5);

/// Reads the parked tenants and the outbox backlog every
/// [`SAMPLE_INTERVAL`] until `shutdown` ([`events::StoreSampled`]); a failed
/// read leaves the gauges as they were.
async fn sample_store(store: Store, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(SAMPLE_INTERVAL);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let pool = store.pool();
        match tokio::try_join!(
            tenantry_store::parking::count(pool),
            tenantry_store::outbox::backlog(pool)
        ) {
            Ok((parked_tenants, outbox_backlog)) => events::StoreSampled {
                parked_tenants,
                outbox_backlog,
            }
            .emit(),
            Err(error) => tracing::debug!(%error, "Reading the store's counts for metrics failed."),
        }
    }
}

/// Records per worker queue before the consumer loop waits (back-pressure).
const WORKER_QUEUE: usize = 64;

fn store_finished(
    consumer: &Consumer,
    tracker: &mut dispatch::OffsetTracker,
    position: &dispatch::Position,
) {
    let Some(done) = tracker.finish(position) else {
        return;
    };
    let marker = tenantry_kafka::Record {
        topic: done.topic,
        partition: done.partition,
        offset: done.offset,
        key: None,
        payload: None,
        headers: Vec::new(),
        timestamp_ms: None,
    };
    if let Err(error) = consumer.store(&marker) {
        // Revoked by a rebalance: the new owner re-reads it; dedup makes that harmless.
        tracing::debug!(%error, "Offset not stored.");
    }
}

/// Connects to the store, retrying with backoff while it is unreachable.
pub async fn connect_store(
    url: &str,
    max_connections: u32,
    shutdown: &CancellationToken,
) -> anyhow::Result<Store> {
    let mut delays = backoff();
    loop {
        match Store::connect(url, max_connections).await {
            Ok(store) => return Ok(store),
            Err(error) if error.is_permanent() => {
                anyhow::bail!("database {}: {error}", tenantry_store::masked(url));
            }
            Err(error) => {
                let Some(delay) = delays.next() else {
                    match error {
                        StoreError::Unreachable { .. } => anyhow::bail!("{error}"),
                        _ => anyhow::bail!("database {}: {error}", tenantry_store::masked(url)),
                    }
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
