//! Bearer-token authentication of the context API (case R1 in
//! `shared/cases`: "JWT checks that are silently optional").
//!
//! Edges send `Authorization: Bearer <JWT>`: HS256 (RFC 7518 §3.2) signed
//! with the shared secret of `--api-jwt-secret`. Every check is mandatory:
//! - the algorithm comes from an explicit allow-list, HS256 only (`alg: none`
//!   and every other algorithm are refused; the process-wide `jsonwebtoken`
//!   provider is HS256-only as well, see `tenantry_apps::ensure_crypto_provider`);
//! - `exp`, `aud` and `iss` must be present (RFC 7519 §4.1); `aud` must be the
//!   configured audience, `iss` the configured issuer; `exp` is honoured with
//!   the configured leeway (default 30 s) and `nbf` when present;
//! - `tenants` (array of tenant ids, or `["*"]` for an edge that serves every
//!   tenant) scopes the token: a context outside it is `403`.
//!
//! Failures are `401 unauthorized` (with `WWW-Authenticate: Bearer`) naming
//! the reason, or `403 forbidden`; both JSON like every other error.

use axum::http::{HeaderMap, header};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde::Deserialize;
use tenantry_schemas::TenantId;

use crate::error::ApiError;

/// Default `iss` the API requires.
pub const DEFAULT_ISSUER: &str = "tenantry";
/// Default `aud` the API requires.
pub const DEFAULT_AUDIENCE: &str = "tenantry-context-api";
/// Default clock-skew leeway on `exp`/`nbf`, in seconds.
pub const DEFAULT_LEEWAY_SECS: u64 = 30;
/// Minimum secret length in bytes: RFC 7518 §3.2 wants an HS256 key of at
/// least the hash size, 256 bits.
pub const MIN_SECRET_BYTES: usize = 32;

/// Why an [`ApiAuth`] cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("api_jwt_secret: {0}")]
pub struct AuthConfigError(String);

/// Verifies bearer tokens; built once from configuration.
#[derive(Clone)]
pub struct ApiAuth {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for ApiAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiAuth")
            .field("issuer", &self.validation.iss)
            .field("audience", &self.validation.aud)
            .field("leeway_secs", &self.validation.leeway)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct Claims {
    #[serde(default)]
    tenants: Vec<String>,
}

/// The tenants a verified token may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    tenants: Vec<String>,
}

impl Scope {
    /// Every tenant (no authentication configured, or a `["*"]` token).
    pub fn everything() -> Self {
        Self {
            tenants: vec!["*".to_owned()],
        }
    }

    /// `Ok` when `tenant` is in scope, else [`ApiError::Forbidden`].
    pub fn require(&self, tenant: &TenantId) -> Result<(), ApiError> {
        if self
            .tenants
            .iter()
            .any(|t| t == "*" || t == tenant.as_str())
        {
            Ok(())
        } else {
            Err(ApiError::Forbidden(tenant.clone()))
        }
    }
}

impl ApiAuth {
    /// HS256 verification with `secret` (≥ [`MIN_SECRET_BYTES`] bytes),
    /// requiring `iss == issuer`, `aud == audience`, and `exp` within
    /// `leeway_secs` seconds.
    ///
    /// # Errors
    /// [`AuthConfigError`] when the secret is too short.
    pub fn new(
        secret: &[u8],
        issuer: &str,
        audience: &str,
        leeway_secs: u64,
    ) -> Result<Self, AuthConfigError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(AuthConfigError(format!(
                "must be at least {MIN_SECRET_BYTES} bytes (RFC 7518 §3.2), got {}",
                secret.len()
            )));
        }
        tenantry_apps::ensure_crypto_provider();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_required_spec_claims(&["exp", "aud", "iss"]);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.leeway = leeway_secs;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let key = DecodingKey::from_secret(secret)
            .map_err(|e| AuthConfigError(format!("not usable as an HS256 key: {e}")))?;
        Ok(Self { key, validation })
    }

    /// The scope of the request's bearer token.
    ///
    /// # Errors
    /// [`ApiError::Unauthorized`] naming the reason: no or malformed
    /// `Authorization` header, bad signature, algorithm not allowed, a missing
    /// or wrong `exp`/`aud`/`iss`, expired.
    pub fn verify(&self, headers: &HeaderMap) -> Result<Scope, ApiError> {
        let value = headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| {
                unauthorized("no Authorization header; send Authorization: Bearer <JWT>")
            })?
            .to_str()
            .map_err(|_| unauthorized("the Authorization header is not ASCII"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| unauthorized("the Authorization header is not a Bearer token"))?
            .trim();
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|e| unauthorized(&reason(e.kind())))?;
        Ok(Scope {
            tenants: data.claims.tenants,
        })
    }
}

fn unauthorized(reason: &str) -> ApiError {
    ApiError::Unauthorized(reason.to_owned())
}

fn reason(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::InvalidSignature => "the token's signature does not verify".into(),
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            "the token's algorithm is not allowed (HS256 only)".into()
        }
        ErrorKind::MissingRequiredClaim(claim) => format!("the token has no `{claim}` claim"),
        ErrorKind::ExpiredSignature => "the token has expired".into(),
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".into(),
        ErrorKind::InvalidAudience => "the token's `aud` is not this API".into(),
        ErrorKind::InvalidIssuer => "the token's `iss` is not trusted".into(),
        ErrorKind::InvalidToken
        | ErrorKind::Base64(_)
        | ErrorKind::Json(_)
        | ErrorKind::Utf8(_) => "the token is not a well-formed JWT".into(),
        other => format!("the token was refused: {other:?}"),
    }
}
