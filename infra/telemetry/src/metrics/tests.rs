use super::*;
use tokio::net::TcpListener;

const TEST_CATALOG: Catalog = &[
    MetricDef {
        name: "tenantry_test_things_total",
        kind: MetricKind::Counter,
        unit: None,
        help: "Things counted by the test.",
    },
    MetricDef {
        name: "tenantry_test_wait_seconds",
        kind: MetricKind::Histogram(&[0.5, 1.0]),
        unit: Some(Unit::Seconds),
        help: "Seconds waited by the test.",
    },
];

#[test]
fn latency_buckets_are_well_formed() {
    assert_well_formed(TEST_CATALOG);
    assert!(LATENCY_BUCKETS.windows(2).all(|w| w[0] < w[1]));
}

#[test]
#[should_panic(expected = "tenantry_test_bad: _total")]
fn a_counter_without_total_is_refused() {
    assert_well_formed(&[MetricDef {
        name: "tenantry_test_bad",
        kind: MetricKind::Counter,
        unit: None,
        help: "Bad.",
    }]);
}

#[tokio::test]
async fn serve_renders_catalog_buckets_and_stops_on_shutdown() {
    let (first, second) = (install(&[TEST_CATALOG]), install(&[]));
    metrics::counter!("tenantry_test_things_total").increment(3);
    metrics::histogram!("tenantry_test_wait_seconds").record(0.7);
    assert!(second.render().contains("tenantry_test_things_total 3"));

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, first, async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let response = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(
        response.headers()[axum::http::header::CONTENT_TYPE],
        CONTENT_TYPE
    );
    let text = response.text().await.unwrap();
    for line in [
        "# HELP tenantry_test_things_total Things counted by the test.",
        "# TYPE tenantry_test_things_total counter",
        "tenantry_test_things_total 3",
        // The catalog's buckets, not a summary's quantiles.
        r#"tenantry_test_wait_seconds_bucket{le="0.5"} 0"#,
        r#"tenantry_test_wait_seconds_bucket{le="1"} 1"#,
        "tenantry_test_wait_seconds_count 1",
    ] {
        assert!(text.contains(line), "{line} not in:\n{text}");
    }
    let other = client.get(format!("{base}/other")).send().await.unwrap();
    assert_eq!(other.status(), 404);
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server stops on shutdown")
        .unwrap()
        .unwrap();
}
