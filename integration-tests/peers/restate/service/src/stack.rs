//! `restate-server` and the peer service as child processes on loopback.

use anyhow::{Context as _, bail};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// How long `restate-server` may take to answer its health checks (about
/// 0.35 s on an empty data dir; the margin is for a loaded machine).
const SERVER_READY: Duration = Duration::from_secs(60);
/// How long the service may take to create its database and listen.
const SERVICE_READY: Duration = Duration::from_secs(30);
/// How long a process may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// A child process, killed when dropped (an error path); [`Process::stop`]
/// stops it gracefully.
pub struct Process {
    pub name: &'static str,
    pub pid: u32,
    pub log: PathBuf,
    child: Child,
}

impl Process {
    fn spawn(name: &'static str, mut command: Command, dir: &Path) -> anyhow::Result<Self> {
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log)?;
        let child = command
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {name}"))?;
        let pid = child.id().context("child pid")?;
        tracing::info!(name, pid, log = %log.display(), "Process started.");
        Ok(Self {
            name,
            pid,
            log,
            child,
        })
    }

    /// Fails, with the end of its log, when the process has exited.
    pub fn check(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!(
                "{} exited ({status}); end of its log {}:\n{}",
                self.name,
                self.log.display(),
                tail.join("\n")
            );
        }
        Ok(())
    }

    /// SIGTERM, then SIGKILL after [`STOP_TIMEOUT`].
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if self.child.try_wait()?.is_some() {
            return Ok(());
        }
        if let Some(pid) = rustix::process::Pid::from_raw(self.pid as i32) {
            rustix::process::kill_process(pid, rustix::process::Signal::TERM)?;
        }
        if tokio::time::timeout(STOP_TIMEOUT, self.child.wait())
            .await
            .is_err()
        {
            self.child.kill().await?;
            bail!("{} ignored SIGTERM for {STOP_TIMEOUT:?}; killed", self.name);
        }
        Ok(())
    }
}

/// A free TCP port on 127.0.0.1 (bound, then released: another process
/// could take it in between, which on a benchmark machine it does not).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Starts the service on `port` and waits until it accepts connections.
pub async fn start_service(
    exe: &Path,
    port: u16,
    args: &crate::Args,
    dir: &Path,
) -> anyhow::Result<Process> {
    let mut command = Command::new(exe);
    command
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--database-url")
        .arg(&args.database_url);
    if args.noop {
        command.arg("--noop");
    }
    if args.no_nodelay {
        command.arg("--no-nodelay");
    }
    let mut process = Process::spawn("service", command, dir)?;
    let deadline = Instant::now() + SERVICE_READY;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        process.check()?;
        if Instant::now() > deadline {
            bail!(
                "the service did not listen within {SERVICE_READY:?}; its log: {}",
                process.log.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(process)
}

/// Ports of a `restate-server`.
#[derive(Debug, Clone, Copy)]
pub struct ServerPorts {
    pub node: u16,
    pub ingress: u16,
    pub admin: u16,
}

/// Writes the server's configuration into `dir` and starts it with its data
/// in `dir/data`, on loopback only; waits until admin and ingress are healthy.
pub async fn start_server(
    exe: &Path,
    ports: ServerPorts,
    dir: &Path,
    http: &reqwest::Client,
) -> anyhow::Result<Process> {
    let config = dir.join("restate.toml");
    // Defaults otherwise (replication 1, WAL fsync on): the server as its
    // users run it on one node.
    std::fs::write(
        &config,
        format!(
            "base-dir = {base:?}\n\
             node-name = \"peer\"\n\
             bind-ip = \"127.0.0.1\"\n\
             bind-port = {node}\n\
             listen-mode = \"tcp\"\n\
             disable-telemetry = true\n\
             log-filter = \"warn\"\n\
             \n\
             [ingress]\n\
             bind-port = {ingress}\n\
             \n\
             [admin]\n\
             bind-port = {admin}\n\
             disable-web-ui = true\n",
            base = dir.join("data").display().to_string(),
            node = ports.node,
            ingress = ports.ingress,
            admin = ports.admin,
        ),
    )?;
    let mut command = Command::new(exe);
    command.arg("--config-file").arg(&config).arg("--no-logo");
    let mut process = Process::spawn("restate-server", command, dir)?;
    let deadline = Instant::now() + SERVER_READY;
    for url in [
        format!("http://127.0.0.1:{}/health", ports.admin),
        format!("http://127.0.0.1:{}/restate/health", ports.ingress),
    ] {
        loop {
            let ok = http
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                break;
            }
            process.check()?;
            if Instant::now() > deadline {
                bail!(
                    "restate-server not healthy within {SERVER_READY:?} ({url}); its log: {}",
                    process.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(process)
}

/// Registers the service's endpoint with the server (`POST /deployments`).
pub async fn register(http: &reqwest::Client, admin: u16, service: u16) -> anyhow::Result<()> {
    let body = serde_json::json!({ "uri": format!("http://127.0.0.1:{service}") });
    let response = http
        .post(format!("http://127.0.0.1:{admin}/deployments"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .context("register the deployment")?;
    let status = response.status();
    if !status.is_success() {
        let text = response.text().await.unwrap_or_default();
        bail!("registering the deployment answered {status}: {text}");
    }
    Ok(())
}
