//! Read-your-writes: `ETag` and `If-None-Match`, and `min_sequence` with
//! `wait_ms` on the context routes (store-only source: the wait reads the
//! store again until the version arrives).

use crate::fixtures::active_tenant;
use crate::spawn_app;
use reqwest::StatusCode;
use std::time::{Duration, Instant};

#[tokio::test]
async fn if_none_match_with_the_current_etag_answers_304_and_a_new_version_200() {
    let app = spawn_app().await;
    app.contexts.put(&active_tenant()).await.unwrap();
    let first = app.get("/v1/tenants/acme-corp/context").await;
    let etag = first.header("etag").expect("an ETag").to_owned();
    assert_eq!(etag, "\"3\"", "the provisioning sequence");

    for (path, tag) in [
        ("/v1/tenants/acme-corp/context", etag.clone()),
        ("/v1/sites/acme.tenantry.test/context", format!("W/{etag}")),
        ("/v1/tenants/acme-corp/context", format!("\"9\", {etag}")),
        ("/v1/tenants/acme-corp/context", "*".to_owned()),
    ] {
        let response = app
            .client
            .get(app.url(path))
            .header("if-none-match", &tag)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{path} {tag}");
        assert_eq!(response.headers()["etag"], etag.as_str());
        assert!(response.bytes().await.unwrap().is_empty());
    }

    // A new version no longer matches.
    let mut newer = active_tenant();
    newer.version.provisioning_sequence = 4;
    app.contexts.put(&newer).await.unwrap();
    let response = app
        .client
        .get(app.url("/v1/tenants/acme-corp/context"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["etag"], "\"4\"");
}

#[tokio::test]
async fn min_sequence_waits_for_the_version_that_reflects_it() {
    let app = spawn_app().await;
    app.contexts.put(&active_tenant()).await.unwrap(); // commerce sequence 2
    let contexts = app.contexts.clone();
    let writer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut newer = active_tenant();
        newer.state.commerce_sequence = 3;
        newer.version.provisioning_sequence = 4;
        contexts.put(&newer).await.unwrap();
    });
    let started = Instant::now();
    let response = app
        .get("/v1/tenants/acme-corp/context?min_sequence=3&wait_ms=5000")
        .await;
    writer.await.unwrap();
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.header("tenantry-commerce-sequence"), Some("3"));
    assert_eq!(response.body["version"]["commerce_sequence"], 3);
    assert!(started.elapsed() >= Duration::from_millis(250));
}

#[tokio::test]
async fn min_sequence_not_reached_in_time_answers_the_version_there_is() {
    let app = spawn_app().await;
    app.contexts.put(&active_tenant()).await.unwrap();
    let started = Instant::now();
    let response = app
        .get("/v1/sites/acme.tenantry.test/context?min_sequence=50&wait_ms=200")
        .await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.header("tenantry-commerce-sequence"), Some("2"));
    // Reached already: no wait at all.
    let started = Instant::now();
    let response = app
        .get("/v1/tenants/acme-corp/context?min_sequence=2&wait_ms=10000")
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(5));
    // A tenant that never appears is still 404 once the wait ends.
    let response = app
        .get("/v1/tenants/nobody/context?min_sequence=1&wait_ms=100")
        .await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_bad_query_is_a_400_naming_the_field() {
    let app = spawn_app().await;
    for (query, field) in [
        ("min_sequence=-1", "min_sequence"),
        ("min_sequence=1&wait_ms=10001", "wait_ms"),
        ("wait_ms=99999", "wait_ms"),
        ("min_sequence=abc", "min_sequence"),
        ("min_sequence=", "min_sequence"),
        ("wait_ms=-5", "wait_ms"),
        ("wait_ms=1.5", "wait_ms"),
        ("min_sequence=1&min_sequence=2", "query"),
    ] {
        let response = app
            .get(&format!("/v1/tenants/acme-corp/context?{query}"))
            .await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(response.body["error"]["code"], "invalid_query", "{query}");
        assert_eq!(response.body["error"]["field"], field, "{query}");
    }
}
