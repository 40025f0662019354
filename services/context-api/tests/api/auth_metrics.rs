//! Refused requests are counted by reason through the `metrics` facade, so
//! whichever recorder the binary installs exports them.

use crate::fixtures::active_tenant;
use crate::spawn_app_with_auth;
use metrics::{
    Counter, CounterFn, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use tenantry_context_api::ApiAuth;
use tenantry_context_api::auth::FAILURES_METRIC;

/// Counters by name and labels (`name{label=value}`).
#[derive(Default)]
struct Counters(Mutex<HashMap<String, Arc<Count>>>);

#[derive(Default)]
struct Count(AtomicU64);

impl CounterFn for Count {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::SeqCst);
    }
    fn absolute(&self, value: u64) {
        self.0.store(value, Ordering::SeqCst);
    }
}

fn render(key: &Key) -> String {
    let labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

impl Recorder for &'static Counters {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let count = self
            .0
            .lock()
            .unwrap()
            .entry(render(key))
            .or_default()
            .clone();
        Counter::from_arc(count)
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

/// The process-wide recorder (installed once; tests in one process share it,
/// so they compare before and after).
fn counters() -> &'static Counters {
    static COUNTERS: OnceLock<&'static Counters> = OnceLock::new();
    COUNTERS.get_or_init(|| {
        let counters: &'static Counters = Box::leak(Box::default());
        metrics::set_global_recorder(counters).expect("no other recorder");
        counters
    })
}

fn count(reason: &str) -> u64 {
    counters()
        .0
        .lock()
        .unwrap()
        .get(&format!("{FAILURES_METRIC}{{reason={reason}}}"))
        .map_or(0, |c| c.0.load(Ordering::SeqCst))
}

#[tokio::test]
async fn refused_requests_are_counted_by_reason() {
    let counters = counters();
    let auth = ApiAuth::new(
        b"metrics-test-secret-metrics-test-secret",
        "tenantry",
        "tenantry-context-api",
        30,
    )
    .unwrap();
    let app = spawn_app_with_auth(Some(auth)).await;
    app.contexts.put(&active_tenant()).await.unwrap();
    let (missing, malformed) = (count("missing_token"), count("malformed_token"));
    for _ in 0..3 {
        app.client
            .get(app.url("/v1/tenants/acme-corp/context"))
            .send()
            .await
            .unwrap();
    }
    app.client
        .get(app.url("/v1/sites/acme.tenantry.test/context"))
        .bearer_auth("not-a-jwt")
        .send()
        .await
        .unwrap();
    assert!(
        count("missing_token") >= missing + 3,
        "{:?}",
        counters.0.lock().unwrap().keys()
    );
    assert!(count("malformed_token") > malformed);
}
