//! Drives the workflows and measures them.

use crate::stack::Process;
use crate::{Args, PEER_DATABASE, procstat};
use anyhow::{Context as _, bail};
use futures::StreamExt;
use hdrhistogram::Histogram;
use restate_peer::{STEPS, WORKFLOW};
use std::time::{Duration, Instant};

/// How long the first workflow may be refused while the registration
/// reaches the ingress.
const FIRST_WORKFLOW: Duration = Duration::from_secs(30);

/// What one run measured.
pub struct Figures {
    workflows: u32,
    failed: Vec<String>,
    elapsed: Duration,
    /// Per-workflow latency, request sent → response read, in µs.
    latencies: Histogram<u64>,
    /// CPU ticks over the window: restate-server, service, this generator.
    cpu: [u64; 3],
    /// CPU ticks over the window: backends of the peer's database, and
    /// every PostgreSQL process.
    postgres: (u64, u64),
    /// Busy CPU ticks of the whole machine over the window.
    machine: u64,
    /// 1-minute load average when the window opened.
    load_before: Option<f64>,
}

/// Warm-up, then the measured window.
pub async fn measure(
    args: &Args,
    http: &reqwest::Client,
    ingress: u16,
    server: &mut Process,
    service: &mut Process,
) -> anyhow::Result<Figures> {
    // Keys only need to be distinct within the run (the server's data dir
    // is new); the time keeps them apart in the peer's table across runs too.
    let run_id = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis()
    );
    let url = |key: &str| format!("http://127.0.0.1:{ingress}/{WORKFLOW}/{key}/run");

    // The first workflow, retried until the ingress knows the service.
    let deadline = Instant::now() + FIRST_WORKFLOW;
    loop {
        match invoke(http, &url(&format!("first-{run_id}"))).await {
            Ok(()) => break,
            Err(error) if Instant::now() < deadline => {
                tracing::debug!(error = %format!("{error:#}"), "First workflow refused; retrying.");
                server.check()?;
                service.check()?;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => return Err(error.context("the first workflow")),
        }
    }
    let warm_up = run_all(
        http,
        &url,
        &format!("w{run_id}"),
        args.warm_up,
        args.concurrency,
    )
    .await;
    if let Some(failure) = warm_up.1.first() {
        bail!("warm-up workflow failed: {failure}");
    }
    tracing::info!(
        workflows = args.workflows,
        concurrency = args.concurrency,
        steps = STEPS.len(),
        noop = args.noop,
        "Warm-up done; measuring."
    );

    let pids = [server.pid, service.pid, std::process::id()];
    let cpu_before = pids.map(|pid| procstat::cpu_ticks(pid).unwrap_or(0));
    let postgres_before = procstat::postgres(PEER_DATABASE);
    let load_before = procstat::load_average();
    let machine_before = procstat::machine_busy_ticks();
    let started = Instant::now();
    let (latencies, failed) = run_all(
        http,
        &url,
        &format!("m{run_id}"),
        args.workflows,
        args.concurrency,
    )
    .await;
    let elapsed = started.elapsed();
    let machine = procstat::machine_busy_ticks().saturating_sub(machine_before);
    let cpu_after = pids.map(|pid| procstat::cpu_ticks(pid).unwrap_or(0));
    let postgres = procstat::postgres_between(&postgres_before, &procstat::postgres(PEER_DATABASE));
    server.check()?;
    service.check()?;
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)?;
    for micros in latencies {
        histogram.saturating_record(micros.max(1));
    }
    Ok(Figures {
        workflows: args.workflows,
        failed,
        elapsed,
        latencies: histogram,
        cpu: [0, 1, 2].map(|i| cpu_after[i].saturating_sub(cpu_before[i])),
        postgres,
        machine,
        load_before,
    })
}

/// Runs `count` workflows with keys `<prefix>-<i>`, `concurrency` at a
/// time; returns the latencies (µs) of those that succeeded and the errors.
async fn run_all(
    http: &reqwest::Client,
    url: &impl Fn(&str) -> String,
    prefix: &str,
    count: u32,
    concurrency: u32,
) -> (Vec<u64>, Vec<String>) {
    let results: Vec<Result<u64, String>> = futures::stream::iter(0..count)
        .map(|i| {
            let url = url(&format!("{prefix}-{i}"));
            async move {
                let started = Instant::now();
                invoke(http, &url)
                    .await
                    .map(|()| u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX))
                    .map_err(|e| format!("{url}: {e:#}"))
            }
        })
        .buffer_unordered(concurrency as usize)
        .collect()
        .await;
    let mut latencies = Vec::with_capacity(results.len());
    let mut failed = Vec::new();
    for result in results {
        match result {
            Ok(micros) => latencies.push(micros),
            Err(error) => failed.push(error),
        }
    }
    (latencies, failed)
}

/// One workflow, start to end: the ingress answers when `run` returned.
/// The body is empty and carries no Content-Type (an empty body declared
/// `application/octet-stream` is refused with 400).
async fn invoke(http: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    let response = http.post(url).send().await.context("send")?;
    let status = response.status();
    let body = response.bytes().await.context("read the response")?;
    if !status.is_success() {
        bail!("{status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(())
}

impl Figures {
    /// The JSON line. CPU figures are milliseconds per measured workflow.
    pub fn json(&self, args: &Args, version: &str, peak_rss: [u64; 2]) -> serde_json::Value {
        let per = |ticks: u64| {
            round(procstat::ticks(ticks).as_secs_f64() * 1000.0 / f64::from(self.workflows))
        };
        let ms = |q: f64| round(self.latencies.value_at_quantile(q) as f64 / 1000.0);
        let mib = |bytes: u64| round(bytes as f64 / (1024.0 * 1024.0));
        let [server, service, generator] = self.cpu;
        let (backends, postgres) = self.postgres;
        let seconds = self.elapsed.as_secs_f64().max(1e-9);
        serde_json::json!({
            "peer": "restate",
            "version": version,
            "mode": if args.noop { "noop" } else { "postgres" },
            "steps": STEPS.len(),
            "workflows": self.workflows,
            "concurrency": args.concurrency,
            "warm_up": args.warm_up,
            "failed": self.failed.len(),
            "first_failure": self.failed.first(),
            "elapsed_s": round(seconds),
            "workflows_per_s": round(self.latencies.len() as f64 / seconds),
            "p50_ms": ms(0.50),
            "p95_ms": ms(0.95),
            "p99_ms": ms(0.99),
            "max_ms": ms(1.0),
            "cpu_ms_per_workflow": per(server + service + generator),
            "cpu_ms_per_workflow_by_process": {
                "restate_server": per(server),
                "service": per(service),
                "generator": per(generator),
            },
            "postgres_backends_cpu_ms_per_workflow": per(backends),
            "postgres_cpu_ms_per_workflow": per(postgres),
            "cpu_ms_per_workflow_with_postgres": per(server + service + generator + postgres),
            // Everything else the machine ran in the window (kernel work
            // for the loopback traffic included): near zero on a quiet
            // machine; large means the figures are suspect.
            "other_cpu_ms_per_workflow": per(self.machine.saturating_sub(server + service + generator + postgres)),
            "loadavg_1m_before": self.load_before,
            "server_peak_rss_mib": mib(peak_rss[0]),
            "service_peak_rss_mib": mib(peak_rss[1]),
            "tcp_nodelay": !args.no_nodelay,
            "clock_ticks_per_s": procstat::ticks_per_second(),
        })
    }
}

/// Three decimals: enough for milliseconds, short on a terminal.
fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
