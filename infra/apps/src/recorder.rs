//! A recording app server, for tests and `tenantry dev`: it plays every
//! registered app, verifies each callback as a careful app would, and keeps
//! what it accepted.
//!
//! Routes: `POST /apps/{app}/installed` and `POST /apps/{app}/uninstalled`.
//! A callback is accepted (204, recorded) only if the bearer token passes the
//! strict checks of case R1 — HS256 only (`alg: none` and every other
//! algorithm refused), signature with that app's secret, `exp`, `iss`, `aud`
//! and `sub` present, `iss` equal to the expected issuer, `aud` equal to the
//! app, not expired beyond 5 s of leeway — and the token is bound to the body
//! (`sub == tenant_id`, `jti == idempotency_key`). Answers: 401 for a bad or
//! missing token, 400 for a bad body, 404 for an unknown app or event, each
//! with `{"error": "<reason>"}`.

use crate::config::DEFAULT_ISSUER;
use crate::lifecycle::{LifecycleBody, LifecycleEvent};
use crate::token::{self, LifecycleClaims};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use jsonwebtoken::DecodingKey;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tenantry_schemas::{AppKey, ProductKey, TenantId};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One accepted callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedCall {
    /// The app called (path segment, equal to the body's `app` and the token's `aud`).
    pub app: AppKey,
    /// `installed` or `uninstalled`.
    pub event: LifecycleEvent,
    /// The body's `tenant_id` (equal to the token's `sub`).
    pub tenant_id: TenantId,
    /// The body's `product`.
    pub product: ProductKey,
    /// The body's `site_host`.
    pub site_host: String,
    /// The body's `idempotency_key` (equal to the token's `jti`).
    pub idempotency_key: String,
    /// The verified token claims.
    pub claims: LifecycleClaims,
}

struct Shared {
    issuer: String,
    keys: HashMap<String, DecodingKey>,
    requests: AtomicUsize,
    // std Mutex: held for a push or a clone, never across an await.
    calls: Mutex<Vec<RecordedCall>>,
    fail_with: Mutex<HashMap<String, u16>>,
    // (app, event) → status: one kind of callback of one app fails.
    fail_on: Mutex<HashMap<(String, LifecycleEvent), u16>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running recorder; the server stops when this is dropped.
#[derive(Debug)]
pub struct AppRecorder {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// Serves the recorder on `listener` (bind `127.0.0.1:0` in tests) for the
/// apps in `secrets` (app key → shared secret), expecting `iss` `tenantry`.
/// An app whose secret is empty is left out (its calls get 404).
pub async fn start(listener: TcpListener, secrets: HashMap<String, String>) -> AppRecorder {
    start_with_issuer(listener, secrets, DEFAULT_ISSUER).await
}

/// [`start`], expecting `iss` equal to `issuer` (`AppsConfig::issuer`).
pub async fn start_with_issuer(
    listener: TcpListener,
    secrets: HashMap<String, String>,
    issuer: &str,
) -> AppRecorder {
    token::ensure_crypto_provider();
    let keys = secrets
        .into_iter()
        .filter_map(|(app, secret)| Some((app, DecodingKey::from_secret(secret.as_bytes()).ok()?)))
        .collect();
    let shared = Arc::new(Shared {
        issuer: issuer.to_owned(),
        keys,
        requests: AtomicUsize::new(0),
        calls: Mutex::new(Vec::new()),
        fail_with: Mutex::new(HashMap::new()),
        fail_on: Mutex::new(HashMap::new()),
    });
    let router = Router::new()
        .route("/apps/{app}/{event}", post(lifecycle))
        .fallback(|| async { reason(StatusCode::NOT_FOUND, "no such route") })
        .layer(middleware::from_fn_with_state(shared.clone(), count))
        .with_state(shared.clone());
    let addr = listener
        .local_addr()
        .expect("a bound TCP listener has a local address");
    let server = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::warn!(%error, "App recorder stopped.");
        }
    });
    AppRecorder {
        addr,
        shared,
        server,
    }
}

impl AppRecorder {
    /// The address it listens on; `addr().to_string()` is its egress
    /// allow-list entry (`127.0.0.1:PORT`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL to register for `app`: `http://127.0.0.1:PORT/apps/{app}`.
    pub fn base_url(&self, app: &str) -> String {
        format!("http://{}/apps/{app}", self.addr)
    }

    /// Accepted callbacks, in arrival order.
    pub fn calls(&self) -> Vec<RecordedCall> {
        lock(&self.shared.calls).clone()
    }

    /// Every HTTP request received, accepted or not (0 proves that nothing
    /// was sent, e.g. after an egress denial).
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// From now on, answer `app`'s callbacks that pass verification with
    /// `status` (e.g. 500, 400; an invalid code becomes 500) and
    /// `{"error": "scripted failure"}`, without recording them.
    pub fn fail_with(&self, app: &str, status: u16) {
        lock(&self.shared.fail_with).insert(app.to_owned(), status);
    }

    /// Like [`AppRecorder::fail_with`], for `app`'s `event` callbacks only.
    pub fn fail_event_with(&self, app: &str, event: LifecycleEvent, status: u16) {
        lock(&self.shared.fail_on).insert((app.to_owned(), event), status);
    }

    /// Stop failing `app`'s callbacks (of every event).
    pub fn succeed(&self, app: &str) {
        lock(&self.shared.fail_with).remove(app);
        lock(&self.shared.fail_on).retain(|(failing, _), _| failing != app);
    }
}

impl Drop for AppRecorder {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn count(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    next.run(request).await
}

fn reason(status: StatusCode, reason: impl Into<String>) -> Response {
    let body = serde_json::json!({ "error": reason.into() });
    (status, axum::Json(body)).into_response()
}

async fn lifecycle(
    State(shared): State<Arc<Shared>>,
    Path((app, event)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(event) = LifecycleEvent::parse(&event) else {
        return reason(StatusCode::NOT_FOUND, "unknown lifecycle event");
    };
    let Some(key) = shared.keys.get(&app) else {
        return reason(StatusCode::NOT_FOUND, "unknown app");
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    let Some(jwt) = bearer else {
        return reason(StatusCode::UNAUTHORIZED, "missing bearer token");
    };
    let claims = match token::verify(jwt, key, &shared.issuer, &app) {
        Ok(claims) => claims,
        Err(error) => return reason(StatusCode::UNAUTHORIZED, format!("invalid token: {error}")),
    };
    let body: LifecycleBody = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(error) => return reason(StatusCode::BAD_REQUEST, format!("invalid body: {error}")),
    };
    let call = body.call;
    if body.event != event || call.app.as_str() != app {
        return reason(
            StatusCode::BAD_REQUEST,
            "body event or app does not match the path",
        );
    }
    if claims.sub != call.tenant_id.as_str() || claims.jti != call.idempotency_key {
        return reason(
            StatusCode::UNAUTHORIZED,
            "token sub/jti do not match the body",
        );
    }
    let scripted = lock(&shared.fail_with).get(&app).copied();
    let scripted = scripted.or_else(|| lock(&shared.fail_on).get(&(app.clone(), event)).copied());
    if let Some(status) = scripted {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return reason(status, "scripted failure");
    }
    lock(&shared.calls).push(RecordedCall {
        app: call.app,
        event,
        tenant_id: call.tenant_id,
        product: call.product,
        site_host: call.site_host,
        idempotency_key: call.idempotency_key,
        claims,
    });
    StatusCode::NO_CONTENT.into_response()
}
