//! How [`ApiAuth`](super::ApiAuth) is configured: the keys (a key set or
//! an HS256 secret), the claims' rules, the route allow-list, the cache.

use jsonwebtoken::Algorithm;

use super::{JwksConfig, RouteAllowList};

/// Default `iss` the shared-secret mode requires.
pub const DEFAULT_ISSUER: &str = "tenantry";
/// Default `aud` the API requires.
pub const DEFAULT_AUDIENCE: &str = "tenantry-context-api";
/// Default clock-skew leeway on `exp`, `nbf` and `iat`, in seconds.
pub const DEFAULT_LEEWAY_SECS: u64 = 30;
/// Default longest `exp - iat`, in seconds: one hour, as ASAP allows.
pub const DEFAULT_MAX_LIFETIME_SECS: u64 = 3600;
/// Default number of verified tokens kept in the cache.
pub const DEFAULT_CACHE_CAPACITY: u64 = 10_000;
/// Minimum secret length in bytes: RFC 7518 §3.2 wants an HS256 key of at
/// least the hash size, 256 bits.
pub const MIN_SECRET_BYTES: usize = 32;
/// The algorithms a key set may use, and its default allow-list.
pub const KEY_SET_ALGORITHMS: [Algorithm; 3] =
    [Algorithm::EdDSA, Algorithm::ES256, Algorithm::RS256];

/// Why an [`ApiAuth`] cannot be built; names the setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AuthConfigError(String);

pub(super) fn config_error(message: impl Into<String>) -> AuthConfigError {
    AuthConfigError(message.into())
}

/// Where verification keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keys {
    /// HS256 with this secret (≥ [`MIN_SECRET_BYTES`]).
    SharedSecret(Vec<u8>),
    /// Public keys of a JWK set.
    KeySet(JwksConfig),
}

/// Whether a key belongs to one issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KidBinding {
    /// The ASAP rule: `kid` starts with `<iss>/` (key `edge-1/2026-01`
    /// signs only for `edge-1`).
    #[default]
    Asap,
    /// Any key of the set may sign for any issuer.
    None,
}

/// Everything [`ApiAuth::from_config`] needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// The keys.
    pub keys: Keys,
    /// Shared-secret mode: the only `iss` accepted. Key-set mode: unused
    /// (the allow-list names the issuers).
    pub issuer: String,
    /// The `aud` tokens must carry.
    pub audience: String,
    /// Allowed `alg`s; `None`: HS256 with a secret, [`KEY_SET_ALGORITHMS`]
    /// with a key set.
    pub algorithms: Option<Vec<Algorithm>>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, seconds.
    pub leeway_secs: u64,
    /// Longest `exp - iat`, seconds; 0: no limit.
    pub max_lifetime_secs: u64,
    /// Issuer → routes. Required with a key set; with a secret, `None`
    /// lets the configured issuer call every route.
    pub allow: Option<RouteAllowList>,
    /// Key-set mode: whether `kid` must start with `<iss>/`.
    pub kid_binding: KidBinding,
    /// Verified tokens kept; 0: no cache.
    pub cache_capacity: u64,
}

impl AuthConfig {
    /// The shared-secret (HS256) mode with the defaults.
    pub fn shared_secret(secret: &[u8], issuer: &str, audience: &str, leeway_secs: u64) -> Self {
        Self {
            keys: Keys::SharedSecret(secret.to_vec()),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            algorithms: None,
            leeway_secs,
            max_lifetime_secs: DEFAULT_MAX_LIFETIME_SECS,
            allow: None,
            kid_binding: KidBinding::default(),
            cache_capacity: DEFAULT_CACHE_CAPACITY,
        }
    }

    /// The key-set mode with the defaults.
    pub fn key_set(jwks: JwksConfig, audience: &str, allow: RouteAllowList) -> Self {
        Self {
            keys: Keys::KeySet(jwks),
            issuer: DEFAULT_ISSUER.to_owned(),
            audience: audience.to_owned(),
            algorithms: None,
            leeway_secs: DEFAULT_LEEWAY_SECS,
            max_lifetime_secs: DEFAULT_MAX_LIFETIME_SECS,
            allow: Some(allow),
            kid_binding: KidBinding::default(),
            cache_capacity: DEFAULT_CACHE_CAPACITY,
        }
    }
}
