//! [`EmbeddedBroker`]: librdkafka's in-process mock cluster, the event bus of
//! `tenantry dev` (DESIGN.md "Real parts and the embedded default").
//!
//! `rdkafka::mocking::MockCluster` holds a raw pointer and is `!Send`, so it lives on
//! a dedicated std thread that owns it until the broker is dropped; topic creation is
//! sent to that thread over a channel. Known limits (notes/local-stack.md): no admin
//! API, first group assignment ≈ 3 s and a rebalance ≈ 8 s, commits in the revoke
//! callback fail with `RebalanceInProgress`, transactions not implemented, 5 MiB
//! retention per partition. Fine for development, not for delivery-guarantee tests.

use std::sync::mpsc;
use std::thread::JoinHandle;

use rdkafka::mocking::MockCluster;

use crate::config::KafkaConfig;
use crate::error::KafkaError;

/// Number of mock brokers: one is enough for a single-process development broker.
const BROKERS: i32 = 1;

type Reply = mpsc::Sender<Result<(), KafkaError>>;

/// Work for the thread that owns the mock cluster.
enum Command {
    CreateTopic {
        name: String,
        partitions: i32,
        reply: Reply,
    },
}

/// An in-process Kafka-API broker (librdkafka mock cluster) listening on a random
/// local port. It stops when dropped; clients still connected then see transport
/// errors.
#[derive(Debug)]
pub struct EmbeddedBroker {
    bootstrap: String,
    commands: Option<mpsc::Sender<Command>>,
    thread: Option<JoinHandle<()>>,
}

impl EmbeddedBroker {
    /// Starts the broker with `topics` as `(name, partitions)` (replication factor 1)
    /// created through `MockCluster::create_topic` (the mock has no admin API, so
    /// [`ensure_topics`](crate::ensure_topics) does not work against it). Blocks until
    /// the broker listens. Errors: [`KafkaError::Embedded`] if the cluster or a topic
    /// cannot be created.
    pub fn start(topics: &[(&str, i32)]) -> Result<Self, KafkaError> {
        let topics: Vec<(String, i32)> = topics
            .iter()
            .map(|(name, partitions)| ((*name).to_owned(), *partitions))
            .collect();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<String, KafkaError>>();
        let (commands, command_rx) = mpsc::channel::<Command>();
        let thread = std::thread::Builder::new()
            .name("tenantry-embedded-kafka".into())
            .spawn(move || own_cluster(&topics, &ready_tx, &command_rx))
            .map_err(|e| KafkaError::Embedded(format!("cannot start thread: {e}")))?;
        let bootstrap = ready_rx
            .recv()
            .map_err(|_| KafkaError::Embedded("broker thread exited during start".into()))??;
        tracing::info!(
            bootstrap = bootstrap.as_str(),
            "Embedded Kafka broker started."
        );
        Ok(Self {
            bootstrap,
            commands: Some(commands),
            thread: Some(thread),
        })
    }

    /// The `bootstrap.servers` value for clients, e.g. `127.0.0.1:41234`.
    pub fn bootstrap(&self) -> String {
        self.bootstrap.clone()
    }

    /// A [`KafkaConfig`] for this broker with the given `client.id` and no overrides.
    pub fn config(&self, client_id: &str) -> KafkaConfig {
        KafkaConfig::new(self.bootstrap(), client_id)
    }

    /// Creates one more topic with `partitions` partitions (replication factor 1).
    /// Errors: [`KafkaError::Embedded`].
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<(), KafkaError> {
        let stopped = || KafkaError::Embedded("broker thread has stopped".into());
        let (reply, reply_rx) = mpsc::channel();
        self.commands
            .as_ref()
            .ok_or_else(stopped)?
            .send(Command::CreateTopic {
                name: name.to_owned(),
                partitions,
                reply,
            })
            .map_err(|_| stopped())?;
        reply_rx.recv().map_err(|_| stopped())?
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        // Closing the channel ends the owner thread's loop, which destroys the cluster.
        self.commands.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Body of the owner thread: create the cluster and topics, report the bootstrap
/// address, then serve commands until every sender is gone.
fn own_cluster(
    topics: &[(String, i32)],
    ready: &mpsc::Sender<Result<String, KafkaError>>,
    commands: &mpsc::Receiver<Command>,
) {
    let cluster = match MockCluster::new(BROKERS) {
        Ok(cluster) => cluster,
        Err(e) => {
            let _ = ready.send(Err(KafkaError::Embedded(format!("mock cluster: {e}"))));
            return;
        }
    };
    for (name, partitions) in topics {
        if let Err(e) = create(&cluster, name, *partitions) {
            let _ = ready.send(Err(e));
            return;
        }
    }
    if ready.send(Ok(cluster.bootstrap_servers())).is_err() {
        return;
    }
    while let Ok(command) = commands.recv() {
        match command {
            Command::CreateTopic {
                name,
                partitions,
                reply,
            } => {
                let _ = reply.send(create(&cluster, &name, partitions));
            }
        }
    }
}

fn create<C: rdkafka::ClientContext>(
    cluster: &MockCluster<'_, C>,
    name: &str,
    partitions: i32,
) -> Result<(), KafkaError> {
    cluster
        .create_topic(name, partitions, 1)
        .map_err(|e| KafkaError::Embedded(format!("create topic {name}: {e}")))
}
