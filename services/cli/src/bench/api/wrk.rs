//! The load generator: `wrk` (Debian package `wrk`, 4.x, LuaJIT), driven by
//! a Lua script this module writes, and the figures its `done()` prints.
//!
//! The script reads the paths file (one line per tenant: the path by
//! tenant id, a tab, the path by site host) in each thread's `init`, builds
//! every request once (`wrk.format`, with one of the run's tokens in turn as
//! `Authorization: Bearer`), and its `request()` returns a random tenant's
//! request, by site host with probability `host_share`. No `response()`
//! callback: it would make wrk hand every response's headers and body to
//! Lua, which costs the generator more than the API spends on a request.
//! So non-2xx answers are wrk's `errors.status` (statuses ≥ 400); the
//! requests carry no `If-None-Match`, so the API has no 1xx or 3xx to send.
//!
//! `done()` prints one line, [`MARKER`] then `name=value` pairs, that
//! [`WrkFigures::parse`] reads. wrk's latencies are in microseconds, taken
//! per request from the request written to its response read, on a closed
//! loop (each connection sends its next request when the answer arrives, so
//! a stall delays the requests behind it rather than showing in their
//! latency: "coordinated omission").

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};

/// First word of the line `done()` prints.
pub const MARKER: &str = "TENANTRY_WRK";

/// How one wrk run loads the API.
#[derive(Debug, Clone)]
pub struct Load {
    /// wrk threads (`-t`).
    pub threads: u32,
    /// Open connections, over all threads (`-c`).
    pub connections: u32,
    /// Length of the run (`-d`).
    pub duration: Duration,
}

/// The Lua script: `paths` is the paths file, `tokens` the bearer tokens
/// used in turn, `host_share` the share of requests by site host (0..=1).
pub fn script(paths: &Path, tokens: &[String], host_share: f64) -> String {
    let tokens = tokens
        .iter()
        .map(|token| lua_string(token))
        .collect::<Vec<_>>()
        .join(",\n  ");
    let paths = lua_string(&paths.display().to_string());
    format!(
        r#"-- Written by `tenantry bench api` (services/cli/src/bench/api/wrk.rs).
local paths_file = {paths}
local tokens = {{
  {tokens}
}}
local host_share = {host_share}

local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("thread_id", counter)
end

local by_tenant, by_host = {{}}, {{}}
function init(args)
  math.randomseed(os.time() + thread_id)
  local n = 0
  for line in io.lines(paths_file) do
    local tenant_path, host_path = line:match("^(%S+)\t(%S+)$")
    if tenant_path then
      n = n + 1
      local auth = "Bearer " .. tokens[n % #tokens + 1]
      by_tenant[n] = wrk.format("GET", tenant_path, {{ ["Authorization"] = auth }})
      by_host[n] = wrk.format("GET", host_path, {{ ["Authorization"] = auth }})
    end
  end
  if n == 0 then error("no paths in " .. paths_file) end
end

function request()
  local i = math.random(#by_tenant)
  if math.random() < host_share then return by_host[i] end
  return by_tenant[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "{MARKER} requests=%d duration_us=%d bytes=%d mean_us=%.1f p50_us=%d p99_us=%d p999_us=%d max_us=%d status_errors=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d\n",
    summary.requests, summary.duration, summary.bytes, latency.mean,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max,
    e.status, e.connect, e.read, e.write, e.timeout))
end
"#
    )
}

/// A Lua string literal of `raw` (long brackets, safe for any token or path
/// without `]==]`).
fn lua_string(raw: &str) -> String {
    format!("[==[{raw}]==]")
}

/// What `done()` printed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WrkFigures {
    /// Responses read.
    pub requests: u64,
    /// Length of the run, microseconds.
    pub duration_us: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Mean latency, microseconds.
    pub mean_us: f64,
    /// Median latency, microseconds.
    pub p50_us: u64,
    /// 99th percentile, microseconds.
    pub p99_us: u64,
    /// 99.9th percentile, microseconds.
    pub p999_us: u64,
    /// Longest, microseconds.
    pub max_us: u64,
    /// Responses with a status ≥ 400.
    pub status_errors: u64,
    /// Connections that could not be opened.
    pub connect_errors: u64,
    /// Socket read errors.
    pub read_errors: u64,
    /// Socket write errors.
    pub write_errors: u64,
    /// Requests without an answer within wrk's `--timeout`.
    pub timeouts: u64,
}

impl WrkFigures {
    /// Reads the [`MARKER`] line out of wrk's standard output.
    ///
    /// # Errors
    /// No such line, or a field missing or not a number.
    pub fn parse(stdout: &str) -> anyhow::Result<Self> {
        let line = stdout
            .lines()
            .find_map(|line| line.trim().strip_prefix(MARKER))
            .with_context(|| format!("wrk printed no {MARKER} line"))?;
        let fields: std::collections::HashMap<&str, &str> = line
            .split_whitespace()
            .filter_map(|pair| pair.split_once('='))
            .collect();
        let int = |name: &str| -> anyhow::Result<u64> {
            let raw = fields
                .get(name)
                .with_context(|| format!("wrk's {MARKER} line has no {name}"))?;
            raw.parse()
                .with_context(|| format!("wrk's {name} is not a whole number: {raw:?}"))
        };
        let mean = fields.get("mean_us").context("wrk's line has no mean_us")?;
        Ok(Self {
            requests: int("requests")?,
            duration_us: int("duration_us")?,
            bytes: int("bytes")?,
            mean_us: mean
                .parse()
                .with_context(|| format!("wrk's mean_us is not a number: {mean:?}"))?,
            p50_us: int("p50_us")?,
            p99_us: int("p99_us")?,
            p999_us: int("p999_us")?,
            max_us: int("max_us")?,
            status_errors: int("status_errors")?,
            connect_errors: int("connect_errors")?,
            read_errors: int("read_errors")?,
            write_errors: int("write_errors")?,
            timeouts: int("timeouts")?,
        })
    }

    /// Responses per second.
    pub fn requests_per_second(&self) -> f64 {
        self.requests as f64 / (self.duration_us.max(1) as f64 / 1e6)
    }

    /// Socket errors and timeouts.
    pub fn socket_errors(&self) -> u64 {
        self.connect_errors + self.read_errors + self.write_errors + self.timeouts
    }
}

/// The `wrk` executable on `PATH`.
///
/// # Errors
/// There is none: one line that says how to get it.
pub fn find() -> anyhow::Result<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("wrk"))
        .find(|path| path.is_file())
        .context("wrk is missing (the load generator of bench api): run infra/local/up")
}

/// How often wrk's CPU time is read while it runs: the last reading
/// misses at most this much of its work.
const CPU_POLL: Duration = Duration::from_millis(100);

/// Runs `wrk` with `script` against `base_url`; returns its figures and
/// the CPU time it used (user + system, its start included: reading the
/// paths and building the requests), as last read from /proc before it
/// exited.
///
/// # Errors
/// wrk cannot start, fails, or prints no figures.
pub async fn run(
    wrk: &Path,
    script: &Path,
    base_url: &str,
    load: &Load,
) -> anyhow::Result<(WrkFigures, Duration)> {
    use tokio::io::AsyncReadExt as _;
    let mut child = tokio::process::Command::new(wrk)
        .arg("--threads")
        .arg(load.threads.to_string())
        .arg("--connections")
        .arg(load.connections.to_string())
        .arg("--duration")
        .arg(format!("{}s", load.duration.as_secs().max(1)))
        .arg("--timeout")
        .arg("5s")
        .arg("--script")
        .arg(script)
        .arg(base_url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("start {}", wrk.display()))?;
    let pid = child.id().context("wrk's pid")?;
    let read = |pipe: Option<Box<dyn tokio::io::AsyncRead + Send + Unpin>>| {
        tokio::spawn(async move {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text).await;
            }
            text
        })
    };
    let stdout = read(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = read(child.stderr.take().map(|p| Box::new(p) as _));
    let mut cpu = Duration::ZERO;
    let status = loop {
        if let Ok(status) = tokio::time::timeout(CPU_POLL, child.wait()).await {
            break status?;
        }
        if let Ok(used) = super::usage::cpu(pid) {
            cpu = used;
        }
    };
    let stdout = stdout.await?;
    let stderr = stderr.await?;
    if !status.success() {
        bail!("wrk failed ({status}): {}{}", stdout.trim(), stderr.trim());
    }
    let figures = WrkFigures::parse(&stdout)
        .with_context(|| format!("wrk's output: {}{}", stdout.trim(), stderr.trim()))?;
    Ok((figures, cpu))
}
