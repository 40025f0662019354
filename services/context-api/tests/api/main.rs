//! HTTP tests of the context API: one server per test on `127.0.0.1:0` over a
//! fresh SQLite store in a temporary directory.

mod auth;
mod auth_metrics;
mod context;
mod errors;
mod fixtures;
mod freshness;
mod health;
mod schemathesis;
mod service_auth;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;
use std::net::SocketAddr;
use tenantry_store::{ContextStore, Store};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A running server and the handles a test needs.
pub struct TestApp {
    /// Where the server listens.
    pub address: SocketAddr,
    /// The store the server reads (shares its pool).
    pub store: Store,
    /// Writes contexts, as the projector would.
    pub contexts: ContextStore,
    /// Cancelled on drop.
    pub shutdown: CancellationToken,
    /// The `serve` task.
    pub server: JoinHandle<anyhow::Result<()>>,
    /// HTTP client.
    pub client: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// A status, the headers and the parsed JSON body of a response.
pub struct JsonResponse {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Parsed JSON body.
    pub body: Value,
}

/// Starts a server on `127.0.0.1:0` over a fresh SQLite store.
pub async fn spawn_app() -> TestApp {
    spawn_app_with_auth(None).await
}

/// [`spawn_app`] with bearer-token checks.
pub async fn spawn_app_with_auth(auth: Option<tenantry_context_api::ApiAuth>) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("contexts.db");
    let store = Store::connect(&format!("sqlite://{}", path.display()), 1)
        .await
        .expect("store");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(tenantry_context_api::serve_with_auth(
        listener,
        store.clone(),
        auth,
        shutdown.clone(),
    ));
    TestApp {
        address,
        contexts: ContextStore::new(store.clone()),
        store,
        shutdown,
        server,
        client: reqwest::Client::new(),
        _dir: dir,
    }
}

impl TestApp {
    /// Absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }

    /// `GET path`, expecting a JSON body.
    pub async fn get(&self, path: &str) -> JsonResponse {
        self.send(reqwest::Method::GET, path).await
    }

    /// Sends a request and insists the answer is JSON, whatever its status.
    pub async fn send(&self, method: reqwest::Method, path: &str) -> JsonResponse {
        let response = self
            .client
            .request(method, self.url(path))
            .send()
            .await
            .expect("request");
        let status = response.status();
        let headers = response.headers().clone();
        let content_type = headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = response.text().await.expect("body");
        assert_eq!(
            content_type, "application/json",
            "{path}: {status} {text:?}"
        );
        let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text:?}"));
        JsonResponse {
            status,
            headers,
            body,
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl JsonResponse {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}
