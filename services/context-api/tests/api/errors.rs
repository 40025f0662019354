//! Every failure is JSON with the right status; no path input yields a 500.

use crate::spawn_app;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn unknown_tenant_and_host_are_404() {
    let app = spawn_app().await;

    let tenant = app.get("/v1/tenants/ghost/context").await;
    assert_eq!(tenant.status, StatusCode::NOT_FOUND);
    assert_eq!(tenant.body["error"]["code"], "tenant_not_found");
    assert!(
        tenant.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ghost")
    );

    let site = app.get("/v1/sites/ghost.tenantry.test/context").await;
    assert_eq!(site.status, StatusCode::NOT_FOUND);
    assert_eq!(site.body["error"]["code"], "site_not_found");
    assert!(
        site.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ghost.tenantry.test")
    );
}

#[tokio::test]
async fn invalid_tenant_ids_are_400_naming_the_field() {
    let app = spawn_app().await;
    let long = "a".repeat(300);
    // An empty segment matches the route with an empty id: a bad id, not a bad path.
    for id in ["Bad%20Id", long.as_str(), "%FF", "-t1", "t1%2Fx", ""] {
        let response = app.get(&format!("/v1/tenants/{id}/context")).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{id}");
        let error = &response.body["error"];
        assert_eq!(error["code"], "invalid_tenant_id", "{id}");
        assert_eq!(error["field"], "tenant_id", "{id}");
        let reason = error["reason"].as_str().unwrap();
        assert!(!reason.is_empty() && reason.len() < 200, "{id}: {reason}");
    }
}

#[tokio::test]
async fn invalid_hosts_are_400_naming_the_field() {
    let app = spawn_app().await;
    let too_long = vec!["a".repeat(63); 4].join(".");
    for host in [
        "not_a_host!",
        "a..b",
        "-a.test",
        too_long.as_str(),
        "%FF",
        "a%20b",
    ] {
        let response = app.get(&format!("/v1/sites/{host}/context")).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{host}");
        let error = &response.body["error"];
        assert_eq!(error["code"], "invalid_host", "{host}");
        assert_eq!(error["field"], "host", "{host}");
        assert!(error["reason"].as_str().unwrap().contains("RFC 1123") || host == "%FF");
    }
}

#[tokio::test]
async fn unknown_paths_are_404_json() {
    let app = spawn_app().await;
    for path in [
        "/nope",
        "/",
        "/v1/tenants/t1/context/extra",
        "/v1/tenants/t1",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(response.body["error"]["code"], "not_found", "{path}");
    }
}

#[tokio::test]
async fn wrong_methods_are_405_json_with_allow() {
    let app = spawn_app().await;
    for (method, path) in [
        (Method::POST, "/v1/tenants/t1/context"),
        (Method::DELETE, "/v1/sites/acme.tenantry.test/context"),
        (Method::PUT, "/healthz"),
    ] {
        let response = app.send(method.clone(), path).await;
        assert_eq!(
            response.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(response.body["error"]["code"], "method_not_allowed");
        assert!(
            response.header("allow").unwrap().contains("GET"),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn a_failing_store_is_503_json() {
    let app = spawn_app().await;
    app.store.pool().close().await;

    let response = app.get("/v1/tenants/acme-corp/context").await;
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response.body,
        json!({"error": {"code": "store_unavailable", "message": "the tenant context store is unavailable; retry later"}})
    );
    let by_host = app.get("/v1/sites/acme.tenantry.test/context").await;
    assert_eq!(by_host.status, StatusCode::SERVICE_UNAVAILABLE);
}
