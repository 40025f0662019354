//! Configuration: the registered apps and the egress allow-list, parsed from
//! JSON once at the boundary and validated field by field.

use crate::egress::EgressAllowList;
use crate::token::MIN_SECRET_BYTES;
use serde_json::{Map, Value};
use std::fmt;
use std::time::Duration;
use tenantry_schemas::AppKey;
use url::{Host, Url};

/// Default `iss` of lifecycle tokens.
pub const DEFAULT_ISSUER: &str = "tenantry";

/// Default timeout of one callback attempt (connect + request + response).
/// Below the apps step's 30 s per-attempt timeout (`sagas/src/steps.rs`), so
/// the adapter reports `Unavailable` before the saga runner gives up on it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest accepted `timeout_ms`: the apps step's per-attempt timeout, 30 s.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(30);

/// An app's shared secret: the HS256 key (RFC 7518 §3.2). `Debug` prints
/// `SharedSecret(<redacted>)`, so it never reaches a log through `{:?}`.
#[derive(Clone, PartialEq, Eq)]
pub struct SharedSecret(String);

impl SharedSecret {
    /// Wraps a secret; its length is checked by [`AppsConfig::validate`]
    /// (at least 32 bytes).
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself, for signing. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedSecret(<redacted>)")
    }
}

/// One registered app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRegistration {
    /// The app key, as licensed (`jira-slack`); also the token's `aud`.
    pub key: AppKey,
    /// Base URL (`https://slack.apps.example/tenantry`): callbacks go to
    /// `{base}/installed` and `{base}/uninstalled`. `https`, or `http` for a
    /// loopback host; no user info, query or fragment.
    pub base_url: Url,
    /// HS256 key shared with the app, at least 32 bytes.
    pub shared_secret: SharedSecret,
}

/// Configuration of the apps adapter.
///
/// JSON shape (`from_json`), unknown keys rejected:
/// `{"egress_allow": ["slack.apps.example", "127.0.0.1:9999"], "issuer": "tenantry",
///   "timeout_ms": 10000, "apps": [{"key": "jira-slack", "base_url":
///   "https://slack.apps.example/tenantry", "shared_secret": "<32+ bytes>"}]}`;
/// every key is optional (defaults: none, none, `tenantry`, 10 000 ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppsConfig {
    /// Registered apps; keys are unique.
    pub apps: Vec<AppRegistration>,
    /// Hosts a callback may reach: `host` (default port of the scheme only) or
    /// `host:port`. A callback to any other host fails without a request.
    pub egress_allow: Vec<String>,
    /// `iss` of every token (RFC 7519 §4.1.1).
    pub issuer: String,
    /// Timeout of one callback attempt, 1 ms to [`MAX_TIMEOUT`].
    pub timeout: Duration,
}

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A field is missing, has the wrong type or breaks a rule:
    /// `apps[1].base_url: must use https (http only for loopback hosts), got "http://x.example/"`.
    #[error("{field}: {reason}")]
    Invalid {
        /// Path of the field (`egress_allow[0]`, `apps[1].shared_secret`).
        field: String,
        /// What is wrong; never contains a secret.
        reason: String,
    },
    /// The text is not JSON; the reason has the line and column.
    #[error("apps configuration is not valid JSON: {0}")]
    Syntax(String),
    /// The HTTP client could not be built (TLS roots, resolver).
    #[error("apps HTTP client: {0}")]
    Client(String),
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

impl AppsConfig {
    /// No apps, nothing allowed out, issuer `tenantry`, 10 s timeout.
    pub fn empty() -> Self {
        Self {
            apps: Vec::new(),
            egress_allow: Vec::new(),
            issuer: DEFAULT_ISSUER.to_owned(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Parses the JSON shape above and [validates](Self::validate) it.
    ///
    /// Errors: [`ConfigError::Syntax`] for text that is not JSON, else
    /// [`ConfigError::Invalid`] naming the first bad field.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| ConfigError::Syntax(e.to_string()))?;
        let mut root = object(value, "apps configuration")?;
        let mut config = Self::empty();
        if let Some(issuer) = root.remove("issuer") {
            config.issuer = string(issuer, "issuer")?;
        }
        if let Some(ms) = root.remove("timeout_ms") {
            let ms = ms
                .as_u64()
                .ok_or_else(|| invalid("timeout_ms", "must be an integer"))?;
            config.timeout = Duration::from_millis(ms);
        }
        for (i, entry) in array(root.remove("egress_allow"), "egress_allow")?.enumerate() {
            config
                .egress_allow
                .push(string(entry, &format!("egress_allow[{i}]"))?);
        }
        for (i, app) in array(root.remove("apps"), "apps")?.enumerate() {
            config.apps.push(app_from_json(app, &format!("apps[{i}]"))?);
        }
        if let Some(unknown) = root.keys().next() {
            return Err(invalid(unknown.as_str(), "unknown key"));
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks every rule (also for a configuration built in code): a non-empty
    /// issuer, a timeout of 1 ms to 30 s, parseable allow-list entries, unique
    /// app keys, base URLs as documented on [`AppRegistration::base_url`],
    /// secrets of at least 32 bytes.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.egress().map(drop)
    }

    /// [`validate`](Self::validate), returning the parsed allow-list.
    pub(crate) fn egress(&self) -> Result<EgressAllowList, ConfigError> {
        if self.issuer.trim().is_empty() {
            return Err(invalid("issuer", "must not be empty"));
        }
        if self.timeout.is_zero() || self.timeout > MAX_TIMEOUT {
            return Err(invalid("timeout_ms", "must be 1 to 30000 milliseconds"));
        }
        let egress = EgressAllowList::parse(&self.egress_allow)
            .map_err(|(i, reason)| invalid(format!("egress_allow[{i}]"), reason))?;
        for (i, app) in self.apps.iter().enumerate() {
            if let Some(first) = self.apps[..i].iter().position(|a| a.key == app.key) {
                let reason = format!(
                    "{:?} is already registered by apps[{first}]",
                    app.key.as_str()
                );
                return Err(invalid(format!("apps[{i}].key"), reason));
            }
            check_base_url(&app.base_url)
                .map_err(|reason| invalid(format!("apps[{i}].base_url"), reason))?;
            if app.shared_secret.expose().len() < MIN_SECRET_BYTES {
                let reason = "must be at least 32 bytes (RFC 7518 section 3.2: an HS256 key is at least 256 bits)";
                return Err(invalid(format!("apps[{i}].shared_secret"), reason));
            }
        }
        Ok(egress)
    }
}

fn app_from_json(value: Value, path: &str) -> Result<AppRegistration, ConfigError> {
    let mut app = object(value, path)?;
    let mut take = |name: &str| {
        let field = format!("{path}.{name}");
        match app.remove(name) {
            Some(value) => string(value, &field).map(|s| (s, field)),
            None => Err(invalid(field, "required")),
        }
    };
    let (key, key_field) = take("key")?;
    let (base_url, url_field) = take("base_url")?;
    let (secret, _) = take("shared_secret")?;
    if let Some(unknown) = app.keys().next() {
        return Err(invalid(format!("{path}.{unknown}"), "unknown key"));
    }
    Ok(AppRegistration {
        key: AppKey::parse(&key).map_err(|e| invalid(key_field, e.reason))?,
        base_url: Url::parse(&base_url)
            .map_err(|e| invalid(url_field, format!("not a URL ({e}), got {base_url:?}")))?,
        shared_secret: SharedSecret::new(secret),
    })
}

fn check_base_url(url: &Url) -> Result<(), String> {
    if !url.username().is_empty() || url.password().is_some() {
        // Not echoed: the user info may hold a password.
        return Err("must not contain user info".to_owned());
    }
    let shown = url.as_str();
    let loopback = match url.host() {
        Some(Host::Domain(domain)) => domain == "localhost",
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(format!("must have a host, got {shown:?}")),
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(format!(
                "must use https (http only for loopback hosts), got {shown:?}"
            ));
        }
        _ => return Err(format!("must be an https URL, got {shown:?}")),
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("must not have a query or fragment, got {shown:?}"));
    }
    Ok(())
}

fn object(value: Value, field: &str) -> Result<Map<String, Value>, ConfigError> {
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(invalid(field, "must be a JSON object")),
    }
}

fn array(value: Option<Value>, field: &str) -> Result<impl Iterator<Item = Value>, ConfigError> {
    match value {
        None => Ok(Vec::new().into_iter()),
        Some(Value::Array(items)) => Ok(items.into_iter()),
        Some(_) => Err(invalid(field, "must be a JSON array")),
    }
}

fn string(value: Value, field: &str) -> Result<String, ConfigError> {
    match value {
        Value::String(s) => Ok(s),
        _ => Err(invalid(field, "must be a string")),
    }
}

#[cfg(test)]
mod tests;
