//! `restate-peer`: the load generator of the Restate peer.
//!
//! Starts `restate-server` (loopback, fresh data dir in a temp dir) and the
//! peer service, registers the service, runs warm-up workflows, then drives
//! `--workflows` workflows at `--concurrency`, each with its own key, and
//! prints one line of JSON on stdout (logs go to stderr). Stops both
//! processes and removes the temp dir at the end (keeps it, with the logs,
//! when the run fails).

mod drive;
mod procstat;
mod stack;

use anyhow::Context as _;
use clap::Parser;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(about = "Runs Restate as Tenantry's performance peer and prints one JSON line.")]
pub struct Args {
    /// Workflows to run and measure (the warm-up ones are not counted).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..))]
    workflows: u32,
    /// Workflows in flight at once (closed loop).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    concurrency: u32,
    /// Warm-up workflows run first and not measured (connections, caches,
    /// the server's partitions).
    #[arg(long, default_value_t = 200)]
    warm_up: u32,
    /// Steps do nothing (no PostgreSQL): Restate's own cost.
    #[arg(long)]
    noop: bool,
    /// The `restate-server` executable.
    #[arg(long, env = "RESTATE_SERVER_BIN")]
    restate_server: PathBuf,
    /// The `restate-peer-service` executable; default: next to this one.
    #[arg(long)]
    service: Option<PathBuf>,
    /// PostgreSQL server for the steps (host, port and user are used; the
    /// service creates database `restate_peer` there).
    #[arg(
        long,
        env = "TENANTRY_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/tenantry"
    )]
    database_url: String,
    /// Leave Nagle's algorithm on in the service (the SDK's default) to
    /// show the ~40 ms stall per step; never for a comparison.
    #[arg(long)]
    no_nodelay: bool,
    /// Seconds a single workflow may take before the run fails.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
}

/// The peer service's database, whose backends' CPU is reported apart.
const PEER_DATABASE: &str = "restate_peer";

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let dir = match tempfile::Builder::new().prefix("restate-peer-").tempdir() {
        Ok(dir) => dir,
        Err(error) => {
            eprintln!("error: temp dir: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    // Children are killed when `run` is dropped, so a signal must end `run`,
    // not the process.
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    let outcome = tokio::select! {
        outcome = run(&args, dir.path()) => outcome,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        _ = terminate.recv() => Err(anyhow::anyhow!("terminated")),
    };
    match outcome {
        Ok(figures) => {
            println!("{figures}");
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            let kept = dir.keep();
            eprintln!("error: {error:#}");
            eprintln!("logs kept in {}", kept.display());
            std::process::ExitCode::FAILURE
        }
    }
}

/// Starts, measures, stops; returns the JSON line.
async fn run(args: &Args, dir: &Path) -> anyhow::Result<serde_json::Value> {
    let version = server_version(&args.restate_server).await?;
    let service_exe = match &args.service {
        Some(path) => path.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("directory of this executable")?
            .join("restate-peer-service"),
    };
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency as usize)
        .timeout(Duration::from_secs(args.timeout))
        .build()?;
    let ports = stack::ServerPorts {
        node: stack::free_port()?,
        ingress: stack::free_port()?,
        admin: stack::free_port()?,
    };
    let service_port = stack::free_port()?;
    let mut service = stack::start_service(&service_exe, service_port, args, dir).await?;
    let mut server = stack::start_server(&args.restate_server, ports, dir, &http).await?;
    stack::register(&http, ports.admin, service_port).await?;
    tracing::info!(?ports, service_port, "Service registered.");

    let measured = drive::measure(args, &http, ports.ingress, &mut server, &mut service).await;
    let peak_rss = [server.pid, service.pid].map(|pid| procstat::peak_rss(pid).unwrap_or(0));
    for process in [server, service] {
        let name = process.name;
        if let Err(error) = process.stop().await {
            tracing::warn!(name, error = %format!("{error:#}"), "Process did not stop cleanly.");
        }
    }
    let figures = measured?;
    Ok(figures.json(args, &version, peak_rss))
}

/// `1.7.12` from `restate-server --version` (`restate-server 1.7.12`).
async fn server_version(exe: &Path) -> anyhow::Result<String> {
    let output = tokio::process::Command::new(exe)
        .arg("--version")
        .output()
        .await
        .with_context(|| format!("run {} --version", exe.display()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(text
        .split_whitespace()
        .last()
        .context("restate-server --version printed nothing")?
        .to_owned())
}
