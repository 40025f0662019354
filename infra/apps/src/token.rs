//! The lifecycle token: an HS256 JWT (RFC 7519; HS256 is HMAC with SHA-256,
//! RFC 7518 §3.2) signed with the app's shared secret.
//!
//! `jsonwebtoken` does the JWT encoding and claim validation; the HMAC comes
//! from `ring` (already linked through rustls) via [`HS256_ONLY`], a
//! `CryptoProvider` that can sign and verify HS256 and nothing else. So an
//! algorithm other than HS256 fails closed even if a verifier's allow-list
//! were misconfigured.

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Lifetime of a lifecycle token: `exp = iat + 60` seconds. Long enough for
/// one HTTP attempt (the client timeout is shorter), short enough that a
/// leaked token is useless soon; a retry signs a fresh token.
pub const TOKEN_TTL_SECS: u64 = 60;

/// Clock skew the [recorder](crate::recorder) tolerates on `exp`, in seconds.
pub const VERIFY_LEEWAY_SECS: u64 = 5;

/// Minimum shared-secret length in bytes: RFC 7518 §3.2 requires an HS256
/// key of at least the hash output size, 256 bits.
pub const MIN_SECRET_BYTES: usize = 32;

/// Claims of a lifecycle token (RFC 7519 §4.1). No `qsh`: the body is bound
/// through `sub` and `jti` instead of a query-string hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleClaims {
    /// Issuer (§4.1.1): `AppsConfig::issuer`, `tenantry` by default.
    pub iss: String,
    /// Audience (§4.1.3): the app key; an app must reject other audiences.
    pub aud: String,
    /// Subject (§4.1.2): the tenant id, equal to the body's `tenant_id`.
    pub sub: String,
    /// Issued at (§4.1.6), seconds since the Unix epoch.
    pub iat: u64,
    /// Expiry (§4.1.4), seconds since the Unix epoch: `iat + TOKEN_TTL_SECS`.
    pub exp: u64,
    /// JWT id (§4.1.7): the call's idempotency key, equal to the body's
    /// `idempotency_key`. It is the same on every retry of one call, because
    /// a retry is the same call: apps dedupe on it and answer a repeat with 2xx.
    pub jti: String,
}

/// Installs an HS256-only `jsonwebtoken` provider (over `ring`) process-wide unless
/// one is already available. A provider chosen by a `jsonwebtoken` backend
/// feature elsewhere in the build, or installed earlier, is kept: every
/// provider implements HS256, and ours must not take RSA/EC away from another
/// crate. [`AppClient::new`](crate::AppClient::new) and
/// [`recorder::start`](crate::recorder::start) call it; call it yourself
/// before using `jsonwebtoken` directly in a process that only links this crate.
pub fn ensure_crypto_provider() {
    if CryptoProvider::try_get_default().is_none() {
        // Losing a race to another installer is fine for the same reason.
        let _ = HS256_ONLY.install_default();
    }
}

/// A `jsonwebtoken` provider for HS256 only, over `ring::hmac` (whose
/// `verify` compares in constant time). JWK helpers are not implemented.
pub(crate) static HS256_ONLY: CryptoProvider = CryptoProvider {
    signer_factory: hs256_signer,
    verifier_factory: hs256_verifier,
    key_utils: KeyUtils::new_unimplemented(),
};

struct Hs256(ring::hmac::Key);

fn hs256_key(alg: &Algorithm, family: AlgorithmFamily, secret: &[u8]) -> Result<Hs256, Error> {
    if *alg != Algorithm::HS256 {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    if family != AlgorithmFamily::Hmac {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    Ok(Hs256(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret)))
}

fn hs256_signer(alg: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
    Ok(Box::new(hs256_key(alg, key.family(), key.as_bytes())?))
}

fn hs256_verifier(alg: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, Error> {
    Ok(Box::new(hs256_key(
        alg,
        key.family(),
        key.try_get_as_bytes()?,
    )?))
}

impl Signer<Vec<u8>> for Hs256 {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        Ok(ring::hmac::sign(&self.0, msg).as_ref().to_vec())
    }
}

impl Verifier<Vec<u8>> for Hs256 {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        ring::hmac::verify(&self.0, msg, signature).map_err(|_| signature::Error::new())
    }
}

impl JwtSigner for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

impl JwtVerifier for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

/// Signs `claims` as a compact HS256 JWT (`header.payload.signature`).
pub(crate) fn sign(claims: &LifecycleClaims, key: &EncodingKey) -> Result<String, Error> {
    ensure_crypto_provider();
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, key)
}

/// Verifies `token` strictly (case R1): HS256 only, signature with `secret`,
/// `exp`, `iss` and `aud` present, `iss == issuer`, `aud == audience`, `exp`
/// in the future within [`VERIFY_LEEWAY_SECS`]; `sub` must be present too.
pub(crate) fn verify(
    token: &str,
    key: &DecodingKey,
    issuer: &str,
    audience: &str,
) -> Result<LifecycleClaims, Error> {
    ensure_crypto_provider();
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.leeway = VERIFY_LEEWAY_SECS;
    jsonwebtoken::decode::<LifecycleClaims>(token, key, &validation).map(|data| data.claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(now: u64) -> LifecycleClaims {
        LifecycleClaims {
            iss: "tenantry".into(),
            aud: "jira-slack".into(),
            sub: "t1".into(),
            iat: now,
            exp: now + TOKEN_TTL_SECS,
            jti: "saga-1:install_apps".into(),
        }
    }

    #[test]
    fn signs_and_verifies_hs256_and_refuses_other_algorithms() {
        let secret = [7u8; MIN_SECRET_BYTES];
        let now = jsonwebtoken::get_current_timestamp();
        let token = sign(&claims(now), &EncodingKey::from_secret(&secret).unwrap()).unwrap();
        let key = DecodingKey::from_secret(&secret).unwrap();
        assert_eq!(
            verify(&token, &key, "tenantry", "jira-slack").unwrap(),
            claims(now)
        );
        assert!(verify(&token, &key, "tenantry", "other-app").is_err());
        assert!(verify(&token, &key, "someone-else", "jira-slack").is_err());
        // Only when no backend feature elsewhere in the build took precedence.
        if std::ptr::eq(CryptoProvider::try_get_default().unwrap(), &HS256_ONLY) {
            let hs384 = Header::new(Algorithm::HS384);
            let enc = EncodingKey::from_secret(&secret).unwrap();
            assert!(jsonwebtoken::encode(&hs384, &claims(now), &enc).is_err());
        }
    }
}
