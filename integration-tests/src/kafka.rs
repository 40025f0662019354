//! [`PrivateKafka`]: Apache Kafka brokers of the test's own, to kill and restart.
//!
//! The shared broker on `TENANTRY_BOOTSTRAP` serves every test, so a test
//! that takes a broker away starts its own: one KRaft node, or a cluster of
//! three, each started by `infra/local/kafka-node` — the launcher
//! `infra/local/up` uses for the shared broker, from the classpath `up`
//! resolved — on free loopback ports, with its data in a temporary directory
//! that outlives restarts (a restart is the same node on the same data).
//!
//! A node counts as started when its log says `Kafka Server started` after
//! the test's start marker: the broker has then registered with the
//! controller quorum and answers clients.

use crate::env::free_port;
use crate::logs::append_line;
use crate::process::{ServiceProcess, read_lossy};
use crate::wait::{Poll, wait_until};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::process::Command;

/// How long a (re)started node may take until its log says it started: a
/// JVM start (about 5 s alone on two cores) plus log recovery after a kill,
/// three at once for a cluster.
pub const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// What a node's log says once it serves clients (`KafkaRaftServer`).
const STARTED: &str = "Kafka Server started";

/// `infra/local/kafka-node`, found from this crate's manifest directory.
pub fn kafka_node_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/local/kafka-node")
}

/// `infra/local/kafka-tool`: Kafka's own command-line tools (console producer,
/// topics, …) from the classpath `infra/local/up` resolved.
pub fn kafka_tool_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/local/kafka-tool")
}

/// One KRaft node (broker and controller in one JVM).
#[derive(Debug)]
struct Node {
    id: u32,
    port: u16,
    controller_port: u16,
    dir: PathBuf,
    log: PathBuf,
    process: Option<ServiceProcess>,
    starts: u32,
}

/// One Kafka node or a cluster of several, on `127.0.0.1` free ports, with
/// data in a temporary directory; every node is killed when this drops (the
/// data goes with it).
#[derive(Debug)]
pub struct PrivateKafka {
    nodes: Vec<Node>,
    voters: String,
    cluster_id: String,
    // Last: dropped after the processes are killed.
    _data: tempfile::TempDir,
}

impl PrivateKafka {
    /// A single node: replication factor 1 everywhere. Its log is `log`.
    ///
    /// Panics when the node does not start within [`READY_TIMEOUT`] (with
    /// its log tail), e.g. when `infra/local/up` has not resolved Kafka yet.
    pub async fn single(log: &Path) -> Self {
        Self::start(1, |_| log.to_owned()).await
    }

    /// A cluster of `size` nodes that are each broker and controller
    /// (`controller.quorum.voters` lists all): default replication factor
    /// `size`, `min.insync.replicas` one less. Node `n` (from 1) logs to
    /// `log_dir/kafka-<n>.log`.
    pub async fn cluster(size: u32, log_dir: &Path) -> Self {
        Self::start(size, |id| log_dir.join(format!("kafka-{id}.log"))).await
    }

    async fn start(size: u32, log: impl Fn(u32) -> PathBuf) -> Self {
        let data = tempfile::Builder::new()
            .prefix("tenantry-it-kafka-")
            .tempdir()
            .expect("temporary directory for the brokers' data");
        let nodes: Vec<Node> = (1..=size)
            .map(|id| Node {
                id,
                port: free_port(),
                controller_port: free_port(),
                dir: data.path().join(format!("node-{id}")),
                log: log(id),
                process: None,
                starts: 0,
            })
            .collect();
        let voters = nodes
            .iter()
            .map(|n| format!("{}@127.0.0.1:{}", n.id, n.controller_port))
            .collect::<Vec<_>>()
            .join(",");
        let mut kafka = Self {
            nodes,
            voters,
            cluster_id: random_cluster_id().await,
            _data: data,
        };
        for index in 0..kafka.nodes.len() {
            kafka.spawn(index);
        }
        for index in 0..kafka.nodes.len() {
            kafka.wait_started(index).await;
        }
        kafka
    }

    /// `bootstrap.servers` for clients: every node, comma-separated.
    pub fn bootstrap(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The node ids, from 1.
    pub fn node_ids(&self) -> Vec<u32> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    /// SIGKILLs node `id` (a crash: no controlled shutdown), then reaps it.
    pub async fn kill(&mut self, id: u32) {
        let node = self.node_mut(id);
        if let Some(mut process) = node.process.take() {
            process.kill().await;
            append_line(&node.log, "=== broker killed (SIGKILL) by the test");
        }
    }

    /// Starts node `id` again on the same ports and data (killing it first if
    /// it runs) and waits until its log says it started.
    pub async fn restart(&mut self, id: u32) {
        self.kill(id).await;
        let index = self.index(id);
        self.spawn(index);
        self.wait_started(index).await;
    }

    /// How many times node `id` was started.
    pub fn starts(&self, id: u32) -> u32 {
        self.nodes[self.index(id)].starts
    }

    /// Node `id`'s log file.
    pub fn log(&self, id: u32) -> &Path {
        &self.nodes[self.index(id)].log
    }

    fn index(&self, id: u32) -> usize {
        self.nodes
            .iter()
            .position(|n| n.id == id)
            .unwrap_or_else(|| panic!("no Kafka node {id} in this cluster"))
    }

    fn node_mut(&mut self, id: u32) -> &mut Node {
        let index = self.index(id);
        &mut self.nodes[index]
    }

    fn spawn(&mut self, index: usize) {
        let voters = self.voters.clone();
        let cluster_id = self.cluster_id.clone();
        let node = &mut self.nodes[index];
        node.starts += 1;
        append_line(&node.log, &format!("=== broker start #{}", node.starts));
        let mut command = Command::new(kafka_node_script());
        command
            .args(["--dir", path_str(&node.dir)])
            .args(["--node-id", &node.id.to_string()])
            .args(["--port", &node.port.to_string()])
            .args(["--controller-port", &node.controller_port.to_string()])
            .args(["--voters", &voters])
            .args(["--cluster-id", &cluster_id]);
        node.process =
            Some(ServiceProcess::spawn(command, &node.log).expect("spawn infra/local/kafka-node"));
    }

    async fn wait_started(&mut self, index: usize) {
        let node = &mut self.nodes[index];
        let marker = format!("=== broker start #{}", node.starts);
        let log = node.log.clone();
        let what = format!("Kafka node {} to start (log {})", node.id, log.display());
        let process = node.process.as_mut().expect("spawned");
        wait_until(READY_TIMEOUT, &what, || {
            let exited = process.exited();
            let text = read_lossy(&log);
            let marker = marker.clone();
            async move {
                let this_start = text.rsplit_once(&marker).map_or("", |(_, after)| after);
                if let Some(status) = exited {
                    panic!(
                        "Kafka node exited at start with {status}; its log:\n{}",
                        crate::process::tail(this_start, 30)
                    );
                }
                if this_start.contains(STARTED) {
                    Poll::Ready(())
                } else {
                    Poll::Waiting(crate::process::tail(this_start, 3))
                }
            }
        })
        .await;
    }
}

/// A new KRaft cluster id (`kafka-storage random-uuid`), shared by every node.
async fn random_cluster_id() -> String {
    let output = Command::new(kafka_tool_script())
        .args(["kafka-storage", "random-uuid"])
        .output()
        .await
        .expect("run infra/local/kafka-tool");
    assert!(
        output.status.success(),
        "kafka-tool kafka-storage random-uuid failed (run infra/local/up, which resolves \
         Kafka): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temporary path")
}
