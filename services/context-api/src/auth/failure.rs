//! Why a request was refused: a [`Reason`] (a stable, machine-readable code,
//! also the `reason` label of the failure counter) and a sentence for people.

use axum::http::StatusCode;

/// Name of the counter of refused requests, labelled `reason` with
/// [`Reason::code`]. Emitted through the `metrics` facade and exported at
/// `GET /metrics` with the API's other metrics ([`crate::metrics`]).
pub const FAILURES_METRIC: &str = "tenantry_api_auth_failures_total";

/// Why authentication (`401`) or authorization (`403`) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// `401`: no `Authorization: Bearer` header (RFC 6750 §2.1).
    MissingToken,
    /// `401`: not a compact JWS (RFC 7515 §7.1): three base64url parts, a
    /// JSON header and claims of the expected types; or a `crit` header.
    MalformedToken,
    /// `401`: key-set mode and the header has no `kid` (RFC 7515 §4.1.4).
    MissingKid,
    /// `401`: no key of the set has this `kid` (after a refresh, when one
    /// was allowed).
    UnknownKid,
    /// `401`: the header's `alg` is not in the configured allow-list
    /// (`none` never is; RFC 8725 §3.1).
    AlgorithmNotAllowed,
    /// `401`: the header's `alg` is not the algorithm of the key its `kid`
    /// names (RFC 8725 §3.1: no algorithm confusion).
    AlgorithmMismatch,
    /// `401`: the signature does not verify with the key.
    BadSignature,
    /// `401`: `iss`, `aud`, `exp` or `iat` is absent (RFC 7519 §4.1).
    MissingClaim,
    /// `401`: a registered claim has the wrong type.
    InvalidClaim,
    /// `401`: `exp` is past, beyond the leeway (RFC 7519 §4.1.4).
    Expired,
    /// `401`: `nbf` is ahead, beyond the leeway (RFC 7519 §4.1.5).
    NotYetValid,
    /// `401`: `iat` is ahead, beyond the leeway (RFC 7519 §4.1.6).
    IssuedInFuture,
    /// `401`: `exp - iat` exceeds the configured maximum lifetime (ASAP caps
    /// a token's lifetime at one hour).
    LifetimeTooLong,
    /// `401`: `aud` does not name this API (RFC 7519 §4.1.3).
    WrongAudience,
    /// `401`: shared-secret mode and `iss` is not the configured issuer.
    UntrustedIssuer,
    /// `401`: the `kid` does not start with `<iss>/`, so the key does not
    /// belong to the issuer the token claims (the ASAP key-id rule).
    KidIssuerMismatch,
    /// `403`: a valid token of an issuer the route allow-list does not name.
    IssuerNotAllowed,
    /// `403`: the allow-list names the issuer, but not for this route.
    RouteNotAllowed,
    /// `403`: the tenant asked for (by id, or the tenant a host resolves to)
    /// is outside the token's `tenants` claim.
    TenantNotInScope,
}

impl Reason {
    /// Every reason, in declaration order (tests and documentation).
    pub const ALL: [Reason; 19] = [
        Reason::MissingToken,
        Reason::MalformedToken,
        Reason::MissingKid,
        Reason::UnknownKid,
        Reason::AlgorithmNotAllowed,
        Reason::AlgorithmMismatch,
        Reason::BadSignature,
        Reason::MissingClaim,
        Reason::InvalidClaim,
        Reason::Expired,
        Reason::NotYetValid,
        Reason::IssuedInFuture,
        Reason::LifetimeTooLong,
        Reason::WrongAudience,
        Reason::UntrustedIssuer,
        Reason::KidIssuerMismatch,
        Reason::IssuerNotAllowed,
        Reason::RouteNotAllowed,
        Reason::TenantNotInScope,
    ];

    /// The `error.reason` of the JSON body and the metric label.
    pub fn code(self) -> &'static str {
        match self {
            Reason::MissingToken => "missing_token",
            Reason::MalformedToken => "malformed_token",
            Reason::MissingKid => "missing_kid",
            Reason::UnknownKid => "unknown_kid",
            Reason::AlgorithmNotAllowed => "algorithm_not_allowed",
            Reason::AlgorithmMismatch => "algorithm_mismatch",
            Reason::BadSignature => "bad_signature",
            Reason::MissingClaim => "missing_claim",
            Reason::InvalidClaim => "invalid_claim",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::IssuedInFuture => "issued_in_future",
            Reason::LifetimeTooLong => "lifetime_too_long",
            Reason::WrongAudience => "wrong_audience",
            Reason::UntrustedIssuer => "untrusted_issuer",
            Reason::KidIssuerMismatch => "kid_issuer_mismatch",
            Reason::IssuerNotAllowed => "issuer_not_allowed",
            Reason::RouteNotAllowed => "route_not_allowed",
            Reason::TenantNotInScope => "tenant_not_in_scope",
        }
    }

    /// `401` for a token that does not authenticate, `403` for an
    /// authenticated caller that may not do this.
    pub fn status(self) -> StatusCode {
        match self {
            Reason::IssuerNotAllowed | Reason::RouteNotAllowed | Reason::TenantNotInScope => {
                StatusCode::FORBIDDEN
            }
            _ => StatusCode::UNAUTHORIZED,
        }
    }
}

/// A refused request: the reason and a message naming the detail (the
/// claim, the `kid`, the tenant). Never contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AuthFailure {
    /// The machine-readable reason.
    pub reason: Reason,
    /// For people: what was wrong.
    pub message: String,
}

impl AuthFailure {
    /// A failure with `reason` and `message`.
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }

    /// Logs the refusal and counts it in [`FAILURES_METRIC`] by reason; one
    /// call per refused request, so the log and the counter agree.
    pub fn emit(&self) {
        let reason = self.reason.code();
        tracing::debug!(reason, message = %self.message, "Request refused.");
        metrics::counter!(FAILURES_METRIC, "reason" => reason).increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_statuses_split_401_from_403() {
        let mut codes: Vec<&str> = Reason::ALL.iter().map(|r| r.code()).collect();
        assert!(
            codes
                .iter()
                .all(|c| c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        );
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Reason::ALL.len());
        let forbidden: Vec<Reason> = Reason::ALL
            .into_iter()
            .filter(|r| r.status() == StatusCode::FORBIDDEN)
            .collect();
        assert_eq!(
            forbidden,
            [
                Reason::IssuerNotAllowed,
                Reason::RouteNotAllowed,
                Reason::TenantNotInScope
            ]
        );
    }
}
