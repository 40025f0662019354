//! The figures of `tenantry bench api`, printed for humans and as one JSON
//! object.

use std::fmt;
use std::time::Duration;

use serde_json::json;

use super::sidecar::Memory;
use super::tenants::Published;
use super::wrk::{Load, WrkFigures};

/// Goal of the issue on the 2-core development machine, with the load
/// generator on the same cores: responses per second, at least.
pub const GOAL_REQUESTS_PER_SECOND: f64 = 50_000.0;

/// Goal: 99th percentile latency, microseconds, at most.
pub const GOAL_P99_US: u64 = 2_000;

/// One run's figures.
#[derive(Debug, Clone)]
pub struct ApiReport {
    /// Tenants written to the changelog (and held by the cache).
    pub tenants: u32,
    /// The run's changelog topic.
    pub topic: String,
    /// Writing the changelog.
    pub published: Published,
    /// Sidecar start → `/readyz` 200 (the cache holds the whole changelog).
    pub ready_after: Duration,
    /// The measured run's load.
    pub load: Load,
    /// The warm-up run's length (0: none).
    pub warm_up: Duration,
    /// Share of requests by site host.
    pub host_share: f64,
    /// Bearer tokens used in turn, and their issuers.
    pub tokens: usize,
    /// Issuers of the tokens.
    pub issuers: usize,
    /// `TENANTRY_LOG` of the sidecar, when the run set one.
    pub sidecar_log: Option<String>,
    /// What wrk measured.
    pub wrk: WrkFigures,
    /// Cache hits over lookups during the measured run, from the cache's
    /// own counters; `None` when `/metrics` does not have them.
    pub hit_ratio: Option<f64>,
    /// Context requests answered 2xx over all, from the API's request
    /// counter (what a hit ratio is in the sidecar, which has no store).
    pub ok_ratio: Option<f64>,
    /// Context requests the API counted as not 2xx during the run.
    pub api_non_2xx: Option<f64>,
    /// Entries of the cache (contexts and site hosts), as `/metrics` says.
    pub cache_entries: Option<f64>,
    /// The cache's estimate of its own size, bytes, as `/metrics` says.
    pub cache_bytes: Option<f64>,
    /// Sidecar memory once warm, before any load.
    pub memory_warm: Memory,
    /// Sidecar memory after the measured run.
    pub memory_after: Memory,
    /// Sidecar CPU time over the measured run.
    pub sidecar_cpu: Duration,
    /// wrk's CPU time over the measured run (its start included).
    pub wrk_cpu: Duration,
}

impl ApiReport {
    /// Non-2xx answers and socket errors of the measured run, by wrk's count
    /// or the API's, whichever is higher; must be 0.
    pub fn errors(&self) -> u64 {
        let api = self.api_non_2xx.unwrap_or(0.0).max(0.0) as u64;
        self.wrk.status_errors.max(api) + self.wrk.socket_errors()
    }

    /// Whether the run met [`GOAL_REQUESTS_PER_SECOND`] and [`GOAL_P99_US`].
    pub fn goal_met(&self) -> bool {
        self.wrk.requests_per_second() >= GOAL_REQUESTS_PER_SECOND
            && self.wrk.p99_us <= GOAL_P99_US
            && self.errors() == 0
    }

    /// Sidecar cores busy over the measured run.
    pub fn sidecar_cores(&self) -> f64 {
        self.sidecar_cpu.as_secs_f64() / self.measured_seconds()
    }

    /// wrk's cores busy over the measured run.
    pub fn wrk_cores(&self) -> f64 {
        self.wrk_cpu.as_secs_f64() / self.measured_seconds()
    }

    fn measured_seconds(&self) -> f64 {
        self.wrk.duration_us.max(1) as f64 / 1e6
    }

    /// CPU time per response, sidecar and wrk, microseconds.
    pub fn cpu_us_per_request(&self) -> (f64, f64) {
        let per = |cpu: Duration| cpu.as_secs_f64() * 1e6 / self.wrk.requests.max(1) as f64;
        (per(self.sidecar_cpu), per(self.wrk_cpu))
    }

    /// The figures as one JSON object.
    pub fn json(&self) -> serde_json::Value {
        let ms = |us: u64| us as f64 / 1000.0;
        let memory = |m: &Memory| json!({"rss_bytes": m.rss, "peak_rss_bytes": m.peak_rss});
        json!({
            "tenants": self.tenants,
            "topic": self.topic,
            "changelog": {
                "records": self.published.records,
                "bytes": self.published.bytes,
                "seconds": self.published.elapsed.as_secs_f64(),
            },
            "ready_seconds": self.ready_after.as_secs_f64(),
            "threads": self.load.threads,
            "connections": self.load.connections,
            "duration_seconds": self.load.duration.as_secs_f64(),
            "warm_up_seconds": self.warm_up.as_secs_f64(),
            "host_share": self.host_share,
            "tokens": self.tokens,
            "issuers": self.issuers,
            "sidecar_log": self.sidecar_log,
            "requests": self.wrk.requests,
            "measured_seconds": self.wrk.duration_us as f64 / 1e6,
            "requests_per_s": self.wrk.requests_per_second(),
            "latency_ms": {
                "mean": self.wrk.mean_us / 1000.0,
                "p50": ms(self.wrk.p50_us),
                "p99": ms(self.wrk.p99_us),
                "p99_9": ms(self.wrk.p999_us),
                "max": ms(self.wrk.max_us),
            },
            "errors": {
                "non_2xx": self.wrk.status_errors,
                "api_non_2xx": self.api_non_2xx,
                "connect": self.wrk.connect_errors,
                "read": self.wrk.read_errors,
                "write": self.wrk.write_errors,
                "timeouts": self.wrk.timeouts,
            },
            "cache_hit_ratio": self.hit_ratio,
            "ok_ratio": self.ok_ratio,
            "cache_entries": self.cache_entries,
            "cache_bytes": self.cache_bytes,
            "sidecar": {
                "warm": memory(&self.memory_warm),
                "after": memory(&self.memory_after),
                "cpu_seconds": self.sidecar_cpu.as_secs_f64(),
                "cores": self.sidecar_cores(),
                "cpu_us_per_request": self.cpu_us_per_request().0,
            },
            "wrk": {
                "cpu_seconds": self.wrk_cpu.as_secs_f64(),
                "cores": self.wrk_cores(),
                "cpu_us_per_request": self.cpu_us_per_request().1,
            },
            "goal": {
                "requests_per_s": GOAL_REQUESTS_PER_SECOND,
                "p99_ms": ms(GOAL_P99_US),
                "met": self.goal_met(),
            },
        })
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn percent(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "n/a".to_owned(), |r| format!("{:.3} %", r * 100.0))
}

impl fmt::Display for ApiReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let command: Vec<String> = std::env::args().collect();
        let ms = |us: u64| us as f64 / 1000.0;
        let wrk = &self.wrk;
        writeln!(f, "command: {}", command.join(" "))?;
        writeln!(
            f,
            "api: {} tenants in a context-sidecar following {}; wrk {} thread(s), {} \
             connections, {} s after a {} s warm-up; {:.0} % of requests by site host; {} \
             tokens of {} issuers; sidecar log filter {}",
            self.tenants,
            self.topic,
            self.load.threads,
            self.load.connections,
            self.load.duration.as_secs(),
            self.warm_up.as_secs(),
            self.host_share * 100.0,
            self.tokens,
            self.issuers,
            self.sidecar_log.as_deref().unwrap_or("default (info)"),
        )?;
        writeln!(
            f,
            "  changelog: {} records ({:.1} MiB) written in {:.2} s; sidecar ready (cache warm) \
             {:.2} s after its start",
            self.published.records,
            mib(self.published.bytes),
            self.published.elapsed.as_secs_f64(),
            self.ready_after.as_secs_f64(),
        )?;
        writeln!(
            f,
            "  load: {:.0} req/s ({} requests in {:.2} s); latency p50={:.3} p99={:.3} \
             p99.9={:.3} max={:.1} mean={:.3} ms",
            wrk.requests_per_second(),
            wrk.requests,
            wrk.duration_us as f64 / 1e6,
            ms(wrk.p50_us),
            ms(wrk.p99_us),
            ms(wrk.p999_us),
            ms(wrk.max_us),
            wrk.mean_us / 1000.0,
        )?;
        writeln!(
            f,
            "  errors: {} non-2xx by wrk ({} by the API), socket {} (connect {}, read {}, write \
             {}, timeouts {})",
            wrk.status_errors,
            self.api_non_2xx
                .map_or_else(|| "n/a".to_owned(), |n| format!("{n:.0}")),
            wrk.socket_errors(),
            wrk.connect_errors,
            wrk.read_errors,
            wrk.write_errors,
            wrk.timeouts,
        )?;
        writeln!(
            f,
            "  cache: hit ratio {} (tenantry_api_cache_lookups_total), 2xx ratio {} \
             (tenantry_api_requests_total); {} entries, {} MiB by its own estimate",
            percent(self.hit_ratio),
            percent(self.ok_ratio),
            self.cache_entries
                .map_or_else(|| "n/a".to_owned(), |n| format!("{n:.0}")),
            self.cache_bytes
                .map_or_else(|| "n/a".to_owned(), |b| format!("{:.1}", b / 1048576.0)),
        )?;
        let (sidecar_us, wrk_us) = self.cpu_us_per_request();
        writeln!(
            f,
            "  sidecar: RSS {:.1} MiB warm before the load, {:.1} MiB after it (peak {:.1} MiB)",
            mib(self.memory_warm.rss),
            mib(self.memory_after.rss),
            mib(self.memory_after.peak_rss),
        )?;
        writeln!(
            f,
            "  CPU over the run: sidecar {:.2} cores ({sidecar_us:.1} µs a request), wrk {:.2} \
             cores ({wrk_us:.1} µs a request)",
            self.sidecar_cores(),
            self.wrk_cores(),
        )?;
        write!(
            f,
            "  goal, ≥ {:.0} req/s and p99 ≤ {:.1} ms with the generator on the same cores: {}",
            GOAL_REQUESTS_PER_SECOND,
            ms(GOAL_P99_US),
            if self.goal_met() { "met" } else { "MISSED" },
        )
    }
}
