//! Bearer-token authentication and authorization of the context API,
//! modelled on ASAP (the seed's service authentication: "an explicit
//! allowlist determines which services may communicate, and authorization
//! details specify which commands and paths are available"), and case R1 of
//! `shared/cases` ("JWT checks that are silently optional").
//!
//! Edges send `Authorization: Bearer <JWT>` (RFC 6750), a compact JWS (RFC
//! 7515) whose key comes from one of two [`Keys`]:
//! - a **key set** (the service mode): public keys in JWK form (RFC 7517)
//!   from files or an HTTPS URL, refreshed ([`jwks`]). The header's `kid`
//!   names the key, and its `alg` must be in the allow-list (default
//!   `EdDSA`, `ES256`, `RS256`) **and** be the key's own algorithm, so a
//!   token can never make a public key act as an HMAC secret (RFC 8725
//!   §3.1). With [`KidBinding::Asap`] the `kid` must start with `<iss>/`,
//!   so one service's key cannot sign for another.
//! - a **shared secret** (HS256, RFC 7518 §3.2): one issuer, the configured
//!   one; `kid` is not used.
//!
//! Every token needs `iss`, `aud` (this API), `exp` and `iat` (RFC 7519
//! §4.1); `exp` and `nbf` are honoured with the leeway, `iat` may not be
//! ahead by more than the leeway, and `exp - iat` may not exceed the
//! maximum lifetime (ASAP: one hour). Then authorization ([`policy`]): the
//! route allow-list says which issuer may call which route, and the
//! `tenants` claim (`["t15"]`, or `["*"]` for an edge serving everyone)
//! which tenants it may read, by id and by host.
//!
//! Verified tokens are cached (keyed by the token) until their `exp` at the
//! latest; a change of the key set empties the cache. Failures are
//! [`AuthFailure`]s: `401` (with `WWW-Authenticate: Bearer`) or `403`, a
//! JSON body with the [`Reason`], counted by reason in [`FAILURES_METRIC`].
//!
//! [`signing`] is the issuing side: key generation and minting for tests
//! and operators.

mod config;
pub mod failure;
pub mod jwks;
pub mod policy;
pub mod signing;

use config::config_error;
pub use config::*;
pub use failure::{AuthFailure, FAILURES_METRIC, Reason};
/// The JOSE algorithms (`EdDSA`, `ES256`, `RS256`, `HS256`, …), parsed from
/// their RFC 7518 names with `str::parse`.
pub use jsonwebtoken::Algorithm;
pub use jwks::{JwksConfig, KeySet};
pub use policy::{Principal, Route, RouteAllowList, TenantScope};
pub use signing::{GeneratedKey, KeyError, MintRequest, SigningKey};

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{DecodingKey, Validation};
use serde::Deserialize;
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jwks::{KeyStore, algorithm_name};

/// Verifies bearer tokens and decides what their callers may read. Built
/// once; clones share the key set and the cache.
#[derive(Clone)]
pub struct ApiAuth {
    inner: Arc<Inner>,
}

struct Inner {
    verifier: Verifier,
    /// `aud`, `iss` (secret mode), leeway, required claims; `algorithms`
    /// is set per token to the key's one algorithm.
    validation: Validation,
    algorithms: Vec<Algorithm>,
    allow: RouteAllowList,
    kid_binding: KidBinding,
    leeway_secs: u64,
    max_lifetime_secs: u64,
    cache: Option<moka::sync::Cache<String, Arc<Principal>>>,
}

enum Verifier {
    Secret(DecodingKey),
    KeySet(Arc<KeyStore>),
}

impl std::fmt::Debug for ApiAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match self.inner.verifier {
            Verifier::Secret(_) => "shared secret (HS256)",
            Verifier::KeySet(_) => "key set",
        };
        f.debug_struct("ApiAuth")
            .field("mode", &mode)
            .field("audience", &self.inner.validation.aud)
            .field("algorithms", &self.inner.algorithms)
            .field("allow", &self.inner.allow)
            .field("leeway_secs", &self.inner.leeway_secs)
            .finish_non_exhaustive()
    }
}

/// The claims read here; `exp`, `aud`, `nbf` are checked by `jsonwebtoken`.
#[derive(Debug, Deserialize)]
struct Claims {
    iss: Option<String>,
    iat: Option<u64>,
    exp: Option<u64>,
    #[serde(default)]
    tenants: Vec<String>,
}

/// The members of the JOSE header read before a key is chosen.
#[derive(Debug, Deserialize)]
struct JoseHeader {
    alg: Option<String>,
    kid: Option<String>,
    crit: Option<serde_json::Value>,
}

impl ApiAuth {
    /// The shared-secret (HS256) mode: `iss == issuer`, `aud == audience`,
    /// `exp` within `leeway_secs`, `iat` required, every issuer route.
    ///
    /// # Errors
    /// [`AuthConfigError`] when the secret is shorter than
    /// [`MIN_SECRET_BYTES`].
    pub fn new(
        secret: &[u8],
        issuer: &str,
        audience: &str,
        leeway_secs: u64,
    ) -> Result<Self, AuthConfigError> {
        let config = AuthConfig::shared_secret(secret, issuer, audience, leeway_secs);
        let verifier = Verifier::Secret(secret_key(secret)?);
        Self::build(config, verifier, None)
    }

    /// Either mode from `config`. A key set is read once here (it must
    /// yield a key) and then refreshed in the background until every clone
    /// is dropped; call it inside a Tokio runtime.
    ///
    /// # Errors
    /// [`AuthConfigError`] naming the setting: a short secret, an empty
    /// audience, an algorithm the mode cannot use, a key set without an
    /// allow-list, a key source that cannot be read.
    pub async fn from_config(config: AuthConfig) -> Result<Self, AuthConfigError> {
        match &config.keys {
            Keys::SharedSecret(secret) => {
                let verifier = Verifier::Secret(secret_key(secret)?);
                Self::build(config, verifier, None)
            }
            Keys::KeySet(jwks) => {
                let cache = new_cache(config.cache_capacity);
                let on_change: Box<dyn Fn() + Send + Sync> = match cache.clone() {
                    Some(cache) => Box::new(move || cache.invalidate_all()),
                    None => Box::new(|| {}),
                };
                // Check the rest before touching files or the network.
                Self::check(&config)?;
                let store = KeyStore::start(jwks.clone(), on_change)
                    .await
                    .map_err(config_error)?;
                Self::build(config, Verifier::KeySet(store), cache)
            }
        }
    }

    fn check(config: &AuthConfig) -> Result<(Vec<Algorithm>, RouteAllowList), AuthConfigError> {
        if config.audience.trim().is_empty() {
            return Err(config_error("api_jwt_audience: must not be empty"));
        }
        let names = |algs: &[Algorithm]| {
            algs.iter()
                .map(|a| algorithm_name(*a))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match &config.keys {
            Keys::SharedSecret(_) => {
                let algorithms = config.algorithms.clone().unwrap_or(vec![Algorithm::HS256]);
                if algorithms != [Algorithm::HS256] {
                    return Err(config_error(format!(
                        "api_jwt_algorithms: a shared secret verifies HS256 only, got {}; \
                         EdDSA, ES256 and RS256 need a key set (--api-jwks-file or --api-jwks-url)",
                        names(&algorithms)
                    )));
                }
                let allow = config
                    .allow
                    .clone()
                    .unwrap_or_else(|| RouteAllowList::everything_for(&config.issuer));
                Ok((algorithms, allow))
            }
            Keys::KeySet(_) => {
                let algorithms = config
                    .algorithms
                    .clone()
                    .unwrap_or(KEY_SET_ALGORITHMS.to_vec());
                if algorithms.is_empty()
                    || algorithms.iter().any(|a| !KEY_SET_ALGORITHMS.contains(a))
                {
                    return Err(config_error(format!(
                        "api_jwt_algorithms: a key set verifies {} (public keys only; HS256 needs \
                         --api-jwt-secret), got {}",
                        names(&KEY_SET_ALGORITHMS),
                        names(&algorithms)
                    )));
                }
                match &config.allow {
                    Some(allow) if !allow.is_empty() => Ok((algorithms, allow.clone())),
                    _ => Err(config_error(
                        "api_allow: a key set needs an allow-list of issuers and their routes \
                         (--api-allow issuer=route,route)",
                    )),
                }
            }
        }
    }

    fn build(
        config: AuthConfig,
        verifier: Verifier,
        cache: Option<moka::sync::Cache<String, Arc<Principal>>>,
    ) -> Result<Self, AuthConfigError> {
        let (algorithms, allow) = Self::check(&config)?;
        let mut validation = Validation::new(algorithms[0]);
        validation.set_required_spec_claims(&["exp", "aud", "iss"]);
        validation.set_audience(&[&config.audience]);
        validation.iss = match verifier {
            Verifier::Secret(_) => Some([config.issuer.clone()].into()),
            // The allow-list decides on the issuer, with a 403.
            Verifier::KeySet(_) => None,
        };
        validation.leeway = config.leeway_secs;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let cache = match &verifier {
            Verifier::Secret(_) => new_cache(config.cache_capacity),
            Verifier::KeySet(_) => cache,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                verifier,
                validation,
                algorithms,
                allow,
                kid_binding: config.kid_binding,
                leeway_secs: config.leeway_secs,
                max_lifetime_secs: config.max_lifetime_secs,
                cache,
            }),
        })
    }

    /// True when the route allow-list lets some issuer call one of
    /// `routes` ([`RouteAllowList::grants_any`]). A service that serves only
    /// routes no issuer may call answers every request `403`; `tenantry
    /// admin` asks this with [`Route::ADMIN`] before it starts.
    pub fn allows_any(&self, routes: &[Route]) -> bool {
        self.inner.allow.grants_any(routes)
    }

    /// Whether `issuer` may call at least one of `routes` (in shared-secret
    /// mode every token's issuer is the one `--api-jwt-issuer` names).
    pub fn allows_issuer_any(&self, issuer: &str, routes: &[Route]) -> bool {
        routes
            .iter()
            .any(|route| self.inner.allow.check(issuer, *route).is_ok())
    }

    /// The caller of a request to `route`: its token verified, then the
    /// route allow-list applied. The tenant check is the caller's
    /// ([`TenantScope::require`]), once the tenant is known.
    ///
    /// # Errors
    /// [`AuthFailure`]: `401` reasons for the token, `403` for the issuer
    /// or route.
    pub async fn authorize(
        &self,
        headers: &HeaderMap,
        route: Route,
    ) -> Result<Arc<Principal>, AuthFailure> {
        let principal = self.authenticate(headers).await?;
        let issuer = principal.issuer.as_deref().unwrap_or_default();
        self.inner.allow.check(issuer, route)?;
        Ok(principal)
    }

    /// The verified caller of the request's bearer token (from the cache
    /// when it was verified before and has not expired).
    ///
    /// # Errors
    /// [`AuthFailure`] with a `401` [`Reason`].
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Arc<Principal>, AuthFailure> {
        let token = bearer(headers)?;
        let now = now();
        if let Some(cache) = &self.inner.cache
            && let Some(principal) = cache.get(token)
            && principal.expires_at > now
        {
            return Ok(principal);
        }
        let principal = Arc::new(self.verify(token, now).await?);
        if let Some(cache) = &self.inner.cache
            && principal.expires_at > now
        {
            cache.insert(token.to_owned(), principal.clone());
        }
        Ok(principal)
    }

    async fn verify(&self, token: &str, now: u64) -> Result<Principal, AuthFailure> {
        let inner = &self.inner;
        let header = jose_header(token)?;
        let alg_name = header.alg.as_deref().unwrap_or("");
        let alg = jsonwebtoken::Algorithm::from_str(alg_name)
            .ok()
            .filter(|alg| inner.algorithms.contains(alg))
            .ok_or_else(|| {
                let allowed: Vec<&str> = inner
                    .algorithms
                    .iter()
                    .map(|a| algorithm_name(*a))
                    .collect();
                AuthFailure::new(
                    Reason::AlgorithmNotAllowed,
                    format!(
                        "the token's algorithm {alg_name:?} is not allowed (allowed: {})",
                        allowed.join(", ")
                    ),
                )
            })?;
        let key = match &inner.verifier {
            Verifier::Secret(key) => key.clone(),
            Verifier::KeySet(store) => {
                let kid = header
                    .kid
                    .as_deref()
                    .filter(|k| !k.is_empty())
                    .ok_or_else(|| {
                        AuthFailure::new(Reason::MissingKid, "the token's header has no `kid`")
                    })?;
                let key = store.get(kid).await.ok_or_else(|| {
                    AuthFailure::new(
                        Reason::UnknownKid,
                        format!("no key of the key set has kid {:?}", shorten(kid)),
                    )
                })?;
                if key.alg != alg {
                    return Err(AuthFailure::new(
                        Reason::AlgorithmMismatch,
                        format!(
                            "the token says {} but key {kid:?} is an {} key",
                            algorithm_name(alg),
                            algorithm_name(key.alg)
                        ),
                    ));
                }
                key.key
            }
        };
        let mut validation = inner.validation.clone();
        validation.algorithms = vec![alg];
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|e| decode_failure(e.kind()))?
            .claims;
        let (Some(issuer), Some(exp)) = (claims.iss, claims.exp) else {
            // `jsonwebtoken` requires both; kept as a second lock.
            return Err(AuthFailure::new(
                Reason::MissingClaim,
                "the token has no `iss` or `exp` claim",
            ));
        };
        let iat = claims.iat.ok_or_else(|| {
            AuthFailure::new(Reason::MissingClaim, "the token has no `iat` claim")
        })?;
        if iat > now.saturating_add(inner.leeway_secs) {
            return Err(AuthFailure::new(
                Reason::IssuedInFuture,
                format!(
                    "the token's `iat` is {} s ahead of this server's clock",
                    iat - now
                ),
            ));
        }
        if inner.max_lifetime_secs > 0 && exp.saturating_sub(iat) > inner.max_lifetime_secs {
            return Err(AuthFailure::new(
                Reason::LifetimeTooLong,
                format!(
                    "the token lives {} s (exp - iat); at most {} s are accepted",
                    exp.saturating_sub(iat),
                    inner.max_lifetime_secs
                ),
            ));
        }
        if let (Verifier::KeySet(_), KidBinding::Asap) = (&inner.verifier, inner.kid_binding) {
            let kid = header.kid.as_deref().unwrap_or_default();
            if !kid.starts_with(&format!("{issuer}/")) {
                return Err(AuthFailure::new(
                    Reason::KidIssuerMismatch,
                    format!(
                        "key {:?} does not belong to issuer {:?} (its kid must start with \"{}/\")",
                        shorten(kid),
                        shorten(&issuer),
                        shorten(&issuer)
                    ),
                ));
            }
        }
        Ok(Principal {
            issuer: Some(issuer),
            tenants: TenantScope::from_claim(claims.tenants),
            expires_at: exp,
        })
    }
}

fn secret_key(secret: &[u8]) -> Result<DecodingKey, AuthConfigError> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(config_error(format!(
            "api_jwt_secret: must be at least {MIN_SECRET_BYTES} bytes (RFC 7518 §3.2), got {}",
            secret.len()
        )));
    }
    DecodingKey::from_secret(secret)
        .map_err(|e| config_error(format!("api_jwt_secret: not usable as an HS256 key: {e}")))
}

/// Entries expire at the principal's `exp` (never later), or when the key
/// set changes (`invalidate_all`).
fn new_cache(capacity: u64) -> Option<moka::sync::Cache<String, Arc<Principal>>> {
    struct UntilExpiry;
    impl moka::Expiry<String, Arc<Principal>> for UntilExpiry {
        fn expire_after_create(
            &self,
            _token: &String,
            principal: &Arc<Principal>,
            _created_at: std::time::Instant,
        ) -> Option<Duration> {
            Some(Duration::from_secs(
                principal.expires_at.saturating_sub(now()),
            ))
        }
    }
    (capacity > 0).then(|| {
        moka::sync::Cache::builder()
            .max_capacity(capacity)
            .expire_after(UntilExpiry)
            .build()
    })
}

/// Seconds since the Unix epoch (the clock `jsonwebtoken` checks `exp` with).
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The token of `Authorization: Bearer <token>` (RFC 6750 §2.1; the scheme
/// is case-insensitive, RFC 9110 §11.1).
fn bearer(headers: &HeaderMap) -> Result<&str, AuthFailure> {
    let missing = |message: &str| AuthFailure::new(Reason::MissingToken, message);
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| missing("no Authorization header; send Authorization: Bearer <JWT>"))?
        .to_str()
        .map_err(|_| missing("the Authorization header is not ASCII"))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(missing("the Authorization header is not a Bearer token")),
    }
}

/// The JOSE header of a compact JWS (RFC 7515 §7.1). A `crit` header is
/// refused: it lists extensions this API does not understand (§4.1.11).
fn jose_header(token: &str) -> Result<JoseHeader, AuthFailure> {
    let malformed = |message: &str| AuthFailure::new(Reason::MalformedToken, message);
    let mut parts = token.split('.');
    let (Some(encoded), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed(
            "the token is not a JWT (three base64url parts separated by dots)",
        ));
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| malformed("the token's header is not base64url"))?;
    let header: JoseHeader = serde_json::from_slice(&bytes)
        .map_err(|_| malformed("the token's header is not a JSON object of strings"))?;
    if header.crit.is_some() {
        return Err(malformed(
            "the token's header has `crit` extensions, which this API does not support",
        ));
    }
    Ok(header)
}

fn decode_failure(kind: &ErrorKind) -> AuthFailure {
    let (reason, message) = match kind {
        ErrorKind::InvalidSignature => (
            Reason::BadSignature,
            "the token's signature does not verify".into(),
        ),
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidKeyFormat => (
            Reason::AlgorithmMismatch,
            "the token's algorithm does not fit the key".into(),
        ),
        ErrorKind::InvalidAlgorithmName => (
            Reason::AlgorithmNotAllowed,
            "the token's algorithm is not allowed".into(),
        ),
        ErrorKind::MissingRequiredClaim(claim) => (
            Reason::MissingClaim,
            format!("the token has no `{claim}` claim"),
        ),
        ErrorKind::InvalidClaimFormat(claim) => (
            Reason::InvalidClaim,
            format!("the token's `{claim}` claim has the wrong type"),
        ),
        ErrorKind::ExpiredSignature => (Reason::Expired, "the token has expired".into()),
        ErrorKind::ImmatureSignature => (
            Reason::NotYetValid,
            "the token is not valid yet (nbf)".into(),
        ),
        ErrorKind::InvalidAudience => (
            Reason::WrongAudience,
            "the token's `aud` is not this API".into(),
        ),
        ErrorKind::InvalidIssuer => (
            Reason::UntrustedIssuer,
            "the token's `iss` is not trusted".into(),
        ),
        ErrorKind::Json(e) => (
            Reason::MalformedToken,
            format!("the token's claims do not parse: {e}"),
        ),
        ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Utf8(_) => (
            Reason::MalformedToken,
            "the token is not a well-formed JWT".into(),
        ),
        other => (
            Reason::MalformedToken,
            format!("the token was refused: {other:?}"),
        ),
    };
    AuthFailure::new(reason, message)
}

/// At most 64 characters of a value taken from a token, for messages.
fn shorten(value: &str) -> String {
    crate::host::truncate(value)
}

#[cfg(test)]
mod tests;
