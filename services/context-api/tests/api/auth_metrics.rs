//! Refused requests are counted by reason through the `metrics` facade and
//! exported at `GET /metrics`, which itself needs no token.

use crate::fixtures::active_tenant;
use crate::{TestApp, spawn_app_with_auth};
use reqwest::StatusCode;
use tenantry_context_api::ApiAuth;
use tenantry_context_api::auth::FAILURES_METRIC;

/// The value of the series `name{labels}` in the app's `/metrics`, 0 when
/// absent. Tests in one process share the recorder, so they compare
/// before and after.
async fn scrape(app: &TestApp, series: &str) -> u64 {
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0, |value| value.parse().unwrap())
}

async fn count(app: &TestApp, reason: &str) -> u64 {
    scrape(app, &format!("{FAILURES_METRIC}{{reason=\"{reason}\"}}")).await
}

#[tokio::test]
async fn refused_requests_are_counted_by_reason() {
    let auth = ApiAuth::new(
        b"metrics-test-secret-metrics-test-secret",
        "tenantry",
        "tenantry-context-api",
        30,
    )
    .unwrap();
    let app = spawn_app_with_auth(Some(auth)).await;
    app.contexts.put(&active_tenant()).await.unwrap();
    let (missing, malformed) = (
        count(&app, "missing_token").await,
        count(&app, "malformed_token").await,
    );
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
    assert!(count(&app, "missing_token").await >= missing + 3);
    assert!(count(&app, "malformed_token").await > malformed);
}

#[tokio::test]
async fn requests_are_counted_by_route_template_without_the_tenant_id() {
    let app = spawn_app_with_auth(None).await;
    let series = r#"tenantry_api_requests_total{route="/v1/tenants/{tenant_id}/context",method="GET",status="404"}"#;
    let before = scrape(&app, series).await;
    for tenant in ["nobody", "no-one"] {
        let path = format!("/v1/tenants/{tenant}/context");
        app.client.get(app.url(&path)).send().await.unwrap();
    }
    assert!(scrape(&app, series).await >= before + 2);
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(
        response.headers()[reqwest::header::CONTENT_TYPE],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(!response.text().await.unwrap().contains("nobody"));
}
