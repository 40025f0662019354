//! [`PrivateBroker`]: a tansu broker of the test's own, to kill and restart.
//!
//! The shared broker on `TENANTRY_BOOTSTRAP` serves every test running in
//! parallel, so a test that takes the broker away starts its own: the same
//! tansu 0.6.0 binary `infra/local/up` built, started the way `up` starts it
//! (sqlite storage engine, a path relative to the working directory, every
//! variable tansu would also read cleared), on a free port, with its data in
//! a temporary directory that outlives restarts.

use crate::env::{free_port, tansu_bin};
use crate::logs::append_line;
use crate::process::ServiceProcess;
use crate::wait::{Poll, wait_until};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::process::Command;

/// How long a (re)started broker may take to accept connections; `up`
/// measures "well under a second".
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Variables tansu reads (clap `env`) that must not leak in from a
/// developer's shell and change the broker.
const TANSU_ENV: &[&str] = &[
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "RUST_LOG",
];

/// Log filter for the private broker: errors, plus the group coordinator's
/// membership decisions (joins, members dropped for missed heartbeats),
/// which explain any rebalance a test sees.
const TANSU_LOG: &str = "error,tansu_broker::coordinator::group::administrator=info";

/// A tansu broker on `127.0.0.1:<free port>` with sqlite storage in a
/// temporary directory; killed when dropped (the data directory goes with it).
#[derive(Debug)]
pub struct PrivateBroker {
    process: Option<ServiceProcess>,
    port: u16,
    log: PathBuf,
    starts: u32,
    // Last: dropped after the process is killed.
    data: tempfile::TempDir,
}

impl PrivateBroker {
    /// Starts a broker and waits until it accepts connections. Its output
    /// goes to `log`.
    ///
    /// Panics when the binary is missing (run `infra/local/up`, which builds
    /// it) or the broker does not come up within [`READY_TIMEOUT`].
    pub async fn start(log: &Path) -> Self {
        let bin = tansu_bin();
        assert!(
            bin.exists(),
            "tansu binary {} is missing: run infra/local/up (it builds it once)",
            bin.display()
        );
        let data = tempfile::Builder::new()
            .prefix("tenantry-it-tansu-")
            .tempdir()
            .expect("temporary directory for the broker's data");
        let mut broker = Self {
            process: None,
            port: free_port(),
            log: log.to_owned(),
            starts: 0,
            data,
        };
        broker.restart().await;
        broker
    }

    /// `127.0.0.1:<port>`, for `TENANTRY_BOOTSTRAP`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// SIGKILL, then reap. SIGKILL, not SIGTERM: `infra/local/down` found
    /// that a SIGTERM'd tansu 0.6.0 can corrupt its storage under an
    /// idempotent producer; a kill is also the harder case for clients.
    pub async fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill().await;
            append_line(&self.log, "=== broker killed (SIGKILL) by the test");
        }
    }

    /// Starts the broker (again) on the same port and data, and waits until
    /// it accepts connections. Kills a running one first.
    pub async fn restart(&mut self) {
        self.kill().await;
        self.starts += 1;
        append_line(&self.log, &format!("=== broker start #{}", self.starts));
        let url = format!("tcp://{}", self.bootstrap());
        let mut command = Command::new(tansu_bin());
        for name in TANSU_ENV {
            command.env_remove(name);
        }
        command
            .env("RUST_LOG", TANSU_LOG)
            .env("NO_COLOR", "1")
            .current_dir(self.data.path())
            .args(["broker", "--listener-url", &url])
            .args(["--advertised-listener-url", &url])
            // Relative to the working directory: sqlite:///abs is joined to it.
            .args(["--storage-engine", "sqlite://tansu.db"]);
        let process = ServiceProcess::spawn(command, &self.log).expect("spawn tansu broker");
        self.process = Some(process);
        let address = self.bootstrap();
        let process = self.process.as_mut().expect("just started");
        wait_until(
            READY_TIMEOUT,
            "private tansu broker to accept connections",
            || {
                let exited = process.exited();
                let address = address.clone();
                async move {
                    if let Some(status) = exited {
                        panic!("tansu on {address} exited at start with {status}");
                    }
                    match tokio::net::TcpStream::connect(&address).await {
                        Ok(_) => Poll::Ready(()),
                        Err(e) => Poll::Waiting(format!("connect {address}: {e}")),
                    }
                }
            },
        )
        .await;
    }

    /// How many times the broker was started.
    pub fn starts(&self) -> u32 {
        self.starts
    }

    /// The broker's log file.
    pub fn log(&self) -> &Path {
        &self.log
    }
}
