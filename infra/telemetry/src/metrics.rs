//! Prometheus metrics shared by every service.
//!
//! Services emit through the `metrics` facade; one Prometheus recorder per
//! process, installed by [`install`], records them, and `GET /metrics`
//! renders them in the text exposition format 0.0.4 ([`CONTENT_TYPE`]):
//! on a service's own router ([`routes`], the context API) or on a listener
//! of its own ([`serve`], the provisioner and the projector with
//! `--metrics-listen`).
//!
//! Each service lists its metrics once, as a [`Catalog`] of [`MetricDef`]s
//! (name, kind, unit, help, histogram buckets): [`install`] takes every
//! catalog the process may emit, because a histogram's buckets are fixed
//! when the recorder is built (`tenantry dev` runs every service in one
//! process, so the CLI installs all catalogs at once).
//!
//! A notable event is a struct whose [`Event::emit`] writes its log line and
//! records its metrics together (STYLE.md, vector's telemetry discipline),
//! so the two never drift. Label values come from typed enums with a fixed
//! set of values, never from ids, so series stay bounded.

mod server;

pub use metrics_exporter_prometheus::PrometheusHandle;
pub use server::{routes, serve};

use metrics::Unit;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use std::sync::OnceLock;
use std::time::Duration;

/// The `Content-Type` of `GET /metrics`: Prometheus text format 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How often histogram samples are folded into their buckets when nobody
/// scrapes: the recorder keeps raw samples until then (8 bytes each, about
/// 2 MB at 50,000 samples/s).
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// A notable event of a service: one method writes its log line and records
/// its metrics.
pub trait Event {
    /// Logs the event (at the level its log line has always had) and records
    /// its metrics through the `metrics` facade.
    fn emit(self);
}

/// What a metric is, and for a histogram its bucket upper bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MetricKind {
    /// Monotonic count (name ends `_total`).
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Observations in buckets; the slice is the buckets' upper bounds, in
    /// ascending order, in the metric's unit.
    Histogram(&'static [f64]),
}

/// One metric a service emits: what `# HELP` and `# TYPE` say about it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricDef {
    /// Full name, `tenantry_<service>_…`, unit suffix included
    /// (`_seconds`, `_total`).
    pub name: &'static str,
    /// Counter, gauge or histogram (with its buckets).
    pub kind: MetricKind,
    /// Unit of the value, when it has one.
    pub unit: Option<Unit>,
    /// The `# HELP` text: one sentence, labels named.
    pub help: &'static str,
}

/// Every metric one service (or component) emits.
pub type Catalog = &'static [MetricDef];

/// The process's Prometheus recorder, installed as the global `metrics`
/// recorder on the first call with the buckets and descriptions of
/// `catalogs`; later calls add their catalogs' descriptions and return the
/// same handle. Buckets are fixed by the first call: a histogram of a
/// catalog only a later call names renders as a summary.
///
/// When another global recorder was installed first (a test's, an
/// embedding binary's), that one keeps receiving the facade's metrics and
/// this handle renders nothing of them; the failure is logged.
pub fn install(catalogs: &[Catalog]) -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    let handle = HANDLE
        .get_or_init(|| {
            let recorder = builder(catalogs).build_recorder();
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => spawn_upkeep(handle.clone()),
                Err(error) => tracing::warn!(
                    error.message = %error,
                    "Another metrics recorder is installed; /metrics will not show Tenantry's metrics."
                ),
            }
            handle
        })
        .clone();
    describe(catalogs);
    handle
}

fn builder(catalogs: &[Catalog]) -> PrometheusBuilder {
    let mut builder = PrometheusBuilder::new();
    for def in catalogs.iter().flat_map(|c| c.iter()) {
        if let MetricKind::Histogram(buckets) = def.kind {
            // The only error is an empty list; [`assert_well_formed`], run
            // by each service's tests, holds catalogs to non-empty buckets.
            builder = builder
                .set_buckets_for_metric(Matcher::Full(def.name.into()), buckets)
                .expect("bucket lists are not empty");
        }
    }
    builder
}

/// `# HELP` lines through the global recorder, so a scrape documents itself.
fn describe(catalogs: &[Catalog]) {
    for def in catalogs.iter().flat_map(|c| c.iter()) {
        let (name, help) = (def.name, def.help);
        match (def.kind, def.unit) {
            (MetricKind::Counter, Some(unit)) => metrics::describe_counter!(name, unit, help),
            (MetricKind::Counter, None) => metrics::describe_counter!(name, help),
            (MetricKind::Gauge, Some(unit)) => metrics::describe_gauge!(name, unit, help),
            (MetricKind::Gauge, None) => metrics::describe_gauge!(name, help),
            (MetricKind::Histogram(_), Some(unit)) => {
                metrics::describe_histogram!(name, unit, help);
            }
            (MetricKind::Histogram(_), None) => metrics::describe_histogram!(name, help),
        }
    }
}

/// A thread, not a task: the recorder outlives any one runtime.
fn spawn_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                handle.run_upkeep();
            }
        });
    if let Err(error) = spawned {
        tracing::warn!(error.message = %error, "Metrics upkeep thread did not start; histogram samples are folded at each scrape only.");
    }
}

/// The checks every catalog must pass, for a service's unit tests: names
/// start `tenantry_`, counters end `_total`, histograms in seconds end
/// `_seconds` with non-empty ascending buckets, no name twice.
///
/// # Panics
/// Names the first metric that breaks a rule.
pub fn assert_well_formed(catalog: Catalog) {
    let mut seen = std::collections::BTreeSet::new();
    for def in catalog {
        assert!(def.name.starts_with("tenantry_"), "{}: prefix", def.name);
        assert!(seen.insert(def.name), "{}: listed twice", def.name);
        assert!(!def.help.is_empty(), "{}: no help", def.name);
        match def.kind {
            MetricKind::Counter => assert!(def.name.ends_with("_total"), "{}: _total", def.name),
            MetricKind::Gauge => assert!(!def.name.ends_with("_total"), "{}: gauge", def.name),
            MetricKind::Histogram(buckets) => {
                assert!(!buckets.is_empty(), "{}: no buckets", def.name);
                assert!(
                    buckets.windows(2).all(|w| w[0] < w[1]),
                    "{}: buckets ascend",
                    def.name
                );
            }
        }
        if def.unit == Some(Unit::Seconds) {
            assert!(def.name.ends_with("_seconds"), "{}: _seconds", def.name);
        }
    }
}

/// Bucket upper bounds (seconds) for latencies from 1 ms to 60 s, 1–2.5–5
/// steps: a record's hop through Kafka and a store, a saga step.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

#[cfg(test)]
mod tests;
