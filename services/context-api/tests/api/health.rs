//! `/healthz`, `/readyz` and graceful shutdown.

use crate::spawn_app;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn healthz_is_ok() {
    let app = spawn_app().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body, json!({"status": "ok"}));
}

#[tokio::test]
async fn readyz_follows_the_store() {
    let app = spawn_app().await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body, json!({"status": "ready"}));

    app.store.pool().close().await;
    let down = app.get("/readyz").await;
    assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(down.body["status"], "unavailable");
    assert!(
        down.body["reason"]
            .as_str()
            .unwrap()
            .starts_with("database error")
    );
}

#[tokio::test]
async fn serve_returns_once_shutdown_is_cancelled() {
    let mut app = spawn_app().await;
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);

    app.shutdown.cancel();
    let result = tokio::time::timeout(Duration::from_secs(10), &mut app.server)
        .await
        .expect("server stopped within 10 s")
        .expect("server task did not panic");
    assert!(result.is_ok(), "{result:?}");
}
