//! The lifecycle client: signs and sends one callback, classifies the outcome.

use crate::config::{AppsConfig, ConfigError};
use crate::egress::EgressAllowList;
use crate::lifecycle::{LifecycleBody, LifecycleCall, LifecycleEvent};
use crate::token::{self, LifecycleClaims, TOKEN_TTL_SECS};
use jsonwebtoken::EncodingKey;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use tenantry_schemas::AppKey;
use tracing::{debug, warn};
use url::Url;

/// At most this many bytes of a refusing app's response body are kept in
/// [`AppError::Rejected`] and [`AppError::Unavailable`]: enough for a reason,
/// bounded so an app cannot bloat saga failure reasons.
pub const MAX_BODY_BYTES: usize = 1024;

/// Why a lifecycle call failed. [`is_retryable`](Self::is_retryable) maps it
/// onto the saga's step policy (retry with backoff, or fail and compensate).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    /// The app is not in the configuration. Permanent.
    #[error("app {0} is not registered in the apps configuration")]
    NotRegistered(AppKey),
    /// The app's host is not in the egress allow-list; no request was made.
    /// Permanent until an operator changes the configuration.
    #[error("app {app}: host {host} is not in the egress allow-list; no request was made")]
    EgressDenied {
        /// The app.
        app: AppKey,
        /// The denied authority, `host:port`, as it would be allow-listed.
        host: String,
    },
    /// The app answered with a status that is neither 2xx nor 5xx: 4xx, or a
    /// 3xx redirect (not followed: it could lead past the allow-list).
    /// Permanent, except 408 Request Timeout and 429 Too Many Requests
    /// (RFC 9110 §15.5.9, RFC 6585 §4), which are retryable.
    #[error("app {app} rejected the callback with HTTP {status}: {body}")]
    Rejected {
        /// The app.
        app: AppKey,
        /// HTTP status code.
        status: u16,
        /// Start of the response body, at most [`MAX_BODY_BYTES`].
        body: String,
    },
    /// Connection refused or reset, timeout, or a 5xx answer. Retryable.
    #[error("app {app} is unavailable: {reason}")]
    Unavailable {
        /// The app.
        app: AppKey,
        /// What happened (the error chain, or status and body start).
        reason: String,
    },
    /// A bug on our side: an empty idempotency key, or a token that could
    /// not be signed. Permanent; no request was made.
    #[error("app {app}: {reason}")]
    Internal {
        /// The app.
        app: AppKey,
        /// What is wrong.
        reason: String,
    },
}

impl AppError {
    /// Whether trying the same call again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            AppError::Unavailable { .. } => true,
            AppError::Rejected { status, .. } => matches!(status, 408 | 429),
            AppError::NotRegistered(_) | AppError::EgressDenied { .. } => false,
            AppError::Internal { .. } => false,
        }
    }
}

struct App {
    installed: Url,
    uninstalled: Url,
    key: EncodingKey,
}

struct Inner {
    apps: HashMap<AppKey, App>,
    egress: EgressAllowList,
    issuer: String,
    http: reqwest::Client,
}

/// Sends lifecycle callbacks to registered apps. Cheap to clone (one `Arc`).
///
/// The HTTP client follows no redirects and ignores proxy environment
/// variables: the egress allow-list, checked before every request, is the
/// only thing that decides where a callback goes.
#[derive(Clone)]
pub struct AppClient {
    inner: Arc<Inner>,
}

impl fmt::Debug for AppClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut apps: Vec<&str> = self.inner.apps.keys().map(AppKey::as_str).collect();
        apps.sort_unstable();
        f.debug_struct("AppClient")
            .field("apps", &apps)
            .field("issuer", &self.inner.issuer)
            .finish_non_exhaustive()
    }
}

impl AppClient {
    /// Validates `config` ([`AppsConfig::validate`]) and builds the client.
    ///
    /// Errors: [`ConfigError::Invalid`] naming the bad field;
    /// [`ConfigError::Client`] if the HTTP client cannot be built.
    pub fn new(config: AppsConfig) -> Result<Self, ConfigError> {
        let egress = config.egress()?;
        token::ensure_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .map_err(|e| ConfigError::Client(error_chain(&e)))?;
        let mut apps = HashMap::with_capacity(config.apps.len());
        for (i, app) in config.apps.into_iter().enumerate() {
            let field = |name: &str| format!("apps[{i}].{name}");
            let endpoint = |event: LifecycleEvent| {
                let mut url = app.base_url.clone();
                url.path_segments_mut()
                    .map_err(|()| ConfigError::Invalid {
                        field: field("base_url"),
                        reason: "cannot have path segments".into(),
                    })?
                    .pop_if_empty()
                    .push(event.as_str());
                Ok::<_, ConfigError>(url)
            };
            let key =
                EncodingKey::from_secret(app.shared_secret.expose().as_bytes()).map_err(|e| {
                    ConfigError::Invalid {
                        field: field("shared_secret"),
                        reason: e.to_string(),
                    }
                })?;
            let registered = App {
                installed: endpoint(LifecycleEvent::Installed)?,
                uninstalled: endpoint(LifecycleEvent::Uninstalled)?,
                key,
            };
            apps.insert(app.key, registered);
        }
        let inner = Inner {
            apps,
            egress,
            issuer: config.issuer,
            http,
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// `POST {base}/installed` with a [`LifecycleBody`] and
    /// `Authorization: Bearer <HS256 JWT>` ([`LifecycleClaims`]); `Ok` on 2xx.
    /// May be repeated for the same call: see [`LifecycleCall`].
    pub async fn installed(&self, call: &LifecycleCall) -> Result<(), AppError> {
        self.send(LifecycleEvent::Installed, call).await
    }

    /// `POST {base}/uninstalled`, otherwise as [`installed`](Self::installed).
    pub async fn uninstalled(&self, call: &LifecycleCall) -> Result<(), AppError> {
        self.send(LifecycleEvent::Uninstalled, call).await
    }

    async fn send(&self, event: LifecycleEvent, call: &LifecycleCall) -> Result<(), AppError> {
        let app_key = &call.app;
        let app = self
            .inner
            .apps
            .get(app_key)
            .ok_or_else(|| AppError::NotRegistered(app_key.clone()))?;
        let url = match event {
            LifecycleEvent::Installed => &app.installed,
            LifecycleEvent::Uninstalled => &app.uninstalled,
        };
        if let Err(host) = self.inner.egress.check(url) {
            warn!(app = %app_key, tenant_id = %call.tenant_id, %event, %host, "App callback denied by the egress allow-list.");
            return Err(AppError::EgressDenied {
                app: app_key.clone(),
                host,
            });
        }
        let internal = |reason: String| AppError::Internal {
            app: app_key.clone(),
            reason,
        };
        if call.idempotency_key.is_empty() {
            return Err(internal("idempotency_key must not be empty".into()));
        }
        let iat = jsonwebtoken::get_current_timestamp();
        let claims = LifecycleClaims {
            iss: self.inner.issuer.clone(),
            aud: app_key.to_string(),
            sub: call.tenant_id.to_string(),
            iat,
            exp: iat + TOKEN_TTL_SECS,
            jti: call.idempotency_key.clone(),
        };
        let jwt = token::sign(&claims, &app.key)
            .map_err(|e| internal(format!("the lifecycle token could not be signed: {e}")))?;
        let body = LifecycleBody {
            event,
            call: call.clone(),
        };
        let unavailable = |reason: String| AppError::Unavailable {
            app: app_key.clone(),
            reason,
        };
        let request = self
            .inner
            .http
            .post(url.clone())
            .bearer_auth(jwt)
            .json(&body);
        let response = request
            .send()
            .await
            .map_err(|e| unavailable(error_chain(&e)))?;
        let status = response.status();
        if status.is_success() {
            debug!(app = %app_key, tenant_id = %call.tenant_id, %event, http.response.status_code = status.as_u16(), "App callback accepted.");
            return Ok(());
        }
        let text = body_prefix(response).await;
        warn!(app = %app_key, tenant_id = %call.tenant_id, %event, http.response.status_code = status.as_u16(), "App callback refused.");
        if status.is_server_error() {
            Err(unavailable(format!("HTTP {status} from {url}: {text}")))
        } else {
            Err(AppError::Rejected {
                app: app_key.clone(),
                status: status.as_u16(),
                body: text,
            })
        }
    }
}

/// The first [`MAX_BODY_BYTES`] of the body, lossy UTF-8; what cannot be read
/// within the timeout is left out.
async fn body_prefix(mut response: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < MAX_BODY_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    bytes.truncate(MAX_BODY_BYTES);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `error: cause: cause …`, so "connection refused" is not hidden behind
/// reqwest's "error sending request".
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
