//! The issuing side, for tests and operators (`tenantry token keygen` and
//! `tenantry token mint`): a private key read from a PEM or JWK file or
//! generated, its public JWK for the key set, and tokens signed with it.
//!
//! Keys: Ed25519 (`EdDSA`, RFC 8037) and P-256 (`ES256`, RFC 7518 §3.4) as
//! PKCS#8 PEM (`PRIVATE KEY`, RFC 5208/5958; `EC PRIVATE KEY`, RFC 5915, for
//! P-256 too) or as a private JWK (`d`); RSA (`RS256`) as PKCS#1 PEM
//! (`RSA PRIVATE KEY`, RFC 8017) for minting only — keygen makes EdDSA and
//! ES256 keys.

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair,
    RsaPublicKeyComponents,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::path::Path;

use super::jwks::algorithm_name;

/// Why a key could not be read, made or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(String);

fn error(message: impl Into<String>) -> KeyError {
    KeyError(message.into())
}

/// A private key that signs tokens with one algorithm.
pub struct SigningKey {
    alg: Algorithm,
    key: EncodingKey,
    kid: Option<String>,
    /// The public half as JWK members (`kty`, `crv`, `x`, `y`, `n`, `e`).
    public: Value,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// A freshly generated key: the signer and its private key as PKCS#8 PEM.
#[derive(Debug)]
pub struct GeneratedKey {
    /// Signs with the new key.
    pub key: SigningKey,
    /// `-----BEGIN PRIVATE KEY-----` … (PKCS#8 v1); keep it secret.
    pub private_pem: String,
}

impl SigningKey {
    /// The HS256 key of the context API's shared-secret mode
    /// (`--api-jwt-secret`), which needs no `kid`.
    ///
    /// # Errors
    /// A secret shorter than 32 bytes (RFC 7518 §3.2).
    pub fn shared_secret(secret: &[u8]) -> Result<Self, KeyError> {
        if secret.len() < 32 {
            return Err(error(format!(
                "the shared secret must be at least 32 bytes (RFC 7518 §3.2), got {}",
                secret.len()
            )));
        }
        Ok(Self {
            alg: Algorithm::HS256,
            key: EncodingKey::from_secret(secret)
                .map_err(|e| error(format!("not usable as an HS256 key: {e}")))?,
            kid: None,
            public: Value::Null,
        })
    }

    /// A new `EdDSA` (Ed25519) or `ES256` (P-256) key named `kid`.
    ///
    /// # Errors
    /// Another algorithm, or the generator failed.
    pub fn generate(alg: Algorithm, kid: &str) -> Result<GeneratedKey, KeyError> {
        let pkcs8 = match alg {
            Algorithm::EdDSA => Ed25519KeyPair::generate()
                .and_then(|pair| pair.to_pkcs8v1())
                .map_err(|_| error("Ed25519 key generation failed"))?,
            Algorithm::ES256 => EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                .and_then(|pair| pair.to_pkcs8v1())
                .map_err(|_| error("P-256 key generation failed"))?,
            other => {
                return Err(error(format!(
                    "keygen makes EdDSA and ES256 keys, not {}",
                    algorithm_name(other)
                )));
            }
        };
        let key = Self::from_pkcs8(pkcs8.as_ref(), Some(kid.to_owned()))?;
        Ok(GeneratedKey {
            key,
            private_pem: pem_encode("PRIVATE KEY", pkcs8.as_ref()),
        })
    }

    /// An Ed25519 or P-256 private key in PKCS#8 DER; the algorithm is the
    /// key's.
    ///
    /// # Errors
    /// Neither an Ed25519 nor a P-256 PKCS#8 key.
    pub fn from_pkcs8(der: &[u8], kid: Option<String>) -> Result<Self, KeyError> {
        if let Ok(pair) = Ed25519KeyPair::from_pkcs8(der) {
            let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
            return Ok(Self {
                alg: Algorithm::EdDSA,
                key: EncodingKey::from_ed_der(der),
                kid,
                public: json!({"kty": "OKP", "crv": "Ed25519", "x": x}),
            });
        }
        if let Ok(pair) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der) {
            return Ok(Self {
                alg: Algorithm::ES256,
                key: EncodingKey::from_ec_der(der),
                kid,
                public: ec_public(pair.public_key().as_ref())?,
            });
        }
        Err(error(
            "not an Ed25519 or P-256 private key in PKCS#8 (RFC 5208)",
        ))
    }

    /// A PEM file: `PRIVATE KEY` (PKCS#8: Ed25519 or P-256), `EC PRIVATE
    /// KEY` (RFC 5915, P-256) or `RSA PRIVATE KEY` (PKCS#1, RS256).
    ///
    /// # Errors
    /// No PEM block of those labels, or a key it cannot use.
    pub fn from_pem(text: &str, kid: Option<String>) -> Result<Self, KeyError> {
        let (label, der) = pem_decode(text)?;
        match label.as_str() {
            "PRIVATE KEY" => Self::from_pkcs8(&der, kid),
            "EC PRIVATE KEY" => {
                let pair =
                    EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
                        .map_err(|e| error(format!("not a P-256 private key: {e}")))?;
                let pkcs8 = pair
                    .to_pkcs8v1()
                    .map_err(|_| error("cannot re-encode the P-256 key"))?;
                Self::from_pkcs8(pkcs8.as_ref(), kid)
            }
            "RSA PRIVATE KEY" => {
                let pair = RsaKeyPair::from_der(&der)
                    .map_err(|e| error(format!("not an RSA private key (PKCS#1): {e}")))?;
                let components = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                Ok(Self {
                    alg: Algorithm::RS256,
                    key: EncodingKey::from_rsa_der(&der),
                    kid,
                    public: json!({
                        "kty": "RSA",
                        "n": URL_SAFE_NO_PAD.encode(&components.n),
                        "e": URL_SAFE_NO_PAD.encode(&components.e),
                    }),
                })
            }
            other => Err(error(format!(
                "PEM label {other:?}: expected PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY"
            ))),
        }
    }

    /// A private JWK (with `d`): OKP Ed25519 or EC P-256. Its `kid`, if
    /// any, names the key.
    ///
    /// # Errors
    /// Not such a JWK, or `d` does not match the public members.
    pub fn from_jwk(text: &str) -> Result<Self, KeyError> {
        #[derive(Deserialize)]
        struct PrivateJwk {
            kty: String,
            crv: Option<String>,
            kid: Option<String>,
            x: Option<String>,
            y: Option<String>,
            d: Option<String>,
        }
        let jwk: PrivateJwk =
            serde_json::from_str(text).map_err(|e| error(format!("not a JWK: {e}")))?;
        let member = |name: &str, value: &Option<String>| {
            let text = value
                .as_deref()
                .ok_or_else(|| error(format!("the JWK has no `{name}`")))?;
            URL_SAFE_NO_PAD
                .decode(text)
                .map_err(|e| error(format!("`{name}` is not base64url: {e}")))
        };
        let d = member("d", &jwk.d)?;
        let pkcs8 = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
            ("OKP", Some("Ed25519")) => {
                Ed25519KeyPair::from_seed_and_public_key(&d, &member("x", &jwk.x)?)
                    .map_err(|e| error(format!("inconsistent Ed25519 JWK: {e}")))?
                    .to_pkcs8v1()
                    .map_err(|_| error("cannot encode the Ed25519 key"))?
            }
            ("EC", Some("P-256")) => {
                let mut point = vec![0x04];
                point.extend(member("x", &jwk.x)?);
                point.extend(member("y", &jwk.y)?);
                EcdsaKeyPair::from_private_key_and_public_key(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    &d,
                    &point,
                )
                .map_err(|e| error(format!("inconsistent P-256 JWK: {e}")))?
                .to_pkcs8v1()
                .map_err(|_| error("cannot encode the P-256 key"))?
            }
            (kty, crv) => {
                return Err(error(format!(
                    "JWK kty {kty:?} crv {crv:?}: expected OKP Ed25519 or EC P-256"
                )));
            }
        };
        Self::from_pkcs8(pkcs8.as_ref(), jwk.kid)
    }

    /// A key file: a JWK when it starts with `{`, else PEM. `kid`, when
    /// given, wins over the JWK's.
    ///
    /// # Errors
    /// The file cannot be read, or [`Self::from_pem`] / [`Self::from_jwk`].
    pub fn from_file(path: &Path, kid: Option<String>) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| error(format!("cannot read {}: {e}", path.display())))?;
        let mut key = if text.trim_start().starts_with('{') {
            Self::from_jwk(&text)?
        } else {
            Self::from_pem(&text, None)?
        };
        if kid.is_some() {
            key.kid = kid;
        }
        Ok(key)
    }

    /// The algorithm this key signs with.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The key id tokens carry in their header.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The public key as a JWK for a key set: `kid`, `alg`, `use: sig`.
    pub fn public_jwk(&self) -> Value {
        let mut jwk = self.public.clone();
        jwk["alg"] = json!(algorithm_name(self.alg));
        jwk["use"] = json!("sig");
        if let Some(kid) = &self.kid {
            jwk["kid"] = json!(kid);
        }
        jwk
    }

    /// A compact JWS (RFC 7515 §7.1) of `claims`, with `kid` in the header.
    ///
    /// # Errors
    /// Signing failed.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, KeyError> {
        let mut header = Header::new(self.alg);
        header.kid.clone_from(&self.kid);
        jsonwebtoken::encode(&header, claims, &self.key)
            .map_err(|e| error(format!("signing failed: {e}")))
    }

    /// A service token for the context API (see [`MintRequest`]).
    ///
    /// # Errors
    /// No `kid` (a key set finds keys by it), or signing failed.
    pub fn mint(&self, request: &MintRequest) -> Result<String, KeyError> {
        if self.kid.is_none() && self.alg != Algorithm::HS256 {
            return Err(error(
                "the key has no kid; pass --kid (the verifier finds keys by it)",
            ));
        }
        let mut jti = [0u8; 16];
        aws_lc_rs::rand::fill(&mut jti).map_err(|_| error("no randomness for jti"))?;
        let mut claims = json!({
            "iss": request.issuer,
            "aud": request.audience,
            "iat": request.issued_at,
            "exp": request.issued_at.saturating_add(request.ttl_secs),
            "jti": URL_SAFE_NO_PAD.encode(jti),
            "tenants": request.tenants,
        });
        if let Some(subject) = &request.subject {
            claims["sub"] = json!(subject);
        }
        self.sign(&claims)
    }
}

/// What a minted token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintRequest {
    /// `iss`: the calling service (on the route allow-list).
    pub issuer: String,
    /// `aud`: the API's audience.
    pub audience: String,
    /// `sub`, optional.
    pub subject: Option<String>,
    /// `tenants`: tenant ids, or `["*"]`.
    pub tenants: Vec<String>,
    /// `iat`, seconds since the Unix epoch.
    pub issued_at: u64,
    /// `exp - iat`, seconds.
    pub ttl_secs: u64,
}

/// `{"keys":[…]}` with `jwk` added, replacing a key of the same `kid`.
pub fn add_to_key_set(set: Option<&str>, jwk: Value) -> Result<String, KeyError> {
    let mut keys = match set {
        None => Vec::new(),
        Some(text) => {
            let doc: Value =
                serde_json::from_str(text).map_err(|e| error(format!("key set: {e}")))?;
            doc.get("keys")
                .and_then(Value::as_array)
                .cloned()
                .ok_or_else(|| error("key set: no `keys` array"))?
        }
    };
    keys.retain(|k| k.get("kid") != jwk.get("kid"));
    keys.push(jwk);
    serde_json::to_string_pretty(&json!({"keys": keys}))
        .map(|text| text + "\n")
        .map_err(|e| error(e.to_string()))
}

fn ec_public(point: &[u8]) -> Result<Value, KeyError> {
    if point.len() != 65 || point[0] != 0x04 {
        return Err(error("unexpected P-256 public key encoding"));
    }
    Ok(json!({
        "kty": "EC",
        "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point[33..]),
    }))
}

/// The first PEM block of `text` (RFC 7468 §2): its label and DER bytes.
fn pem_decode(text: &str) -> Result<(String, Vec<u8>), KeyError> {
    let begin = text
        .find("-----BEGIN ")
        .ok_or_else(|| error("no PEM block (-----BEGIN …-----)"))?;
    let rest = &text[begin + "-----BEGIN ".len()..];
    let label_end = rest.find("-----").ok_or_else(|| error("bad PEM header"))?;
    let label = rest[..label_end].to_owned();
    let body = &rest[label_end + 5..];
    let end_marker = format!("-----END {label}-----");
    let end = body
        .find(&end_marker)
        .ok_or_else(|| error(format!("no {end_marker}")))?;
    let base64: String = body[..end]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let der = STANDARD
        .decode(base64)
        .map_err(|e| error(format!("PEM body is not base64: {e}")))?;
    Ok((label, der))
}

/// PEM with 64-character lines (RFC 7468 §2).
fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_round_trip_through_pem_and_their_jwk_is_public() {
        for alg in [Algorithm::EdDSA, Algorithm::ES256] {
            let generated = SigningKey::generate(alg, "edge-1/k1").unwrap();
            assert!(
                generated
                    .private_pem
                    .starts_with("-----BEGIN PRIVATE KEY-----\n")
            );
            let read =
                SigningKey::from_pem(&generated.private_pem, Some("edge-1/k1".into())).unwrap();
            assert_eq!(read.alg(), alg);
            assert_eq!(read.public_jwk(), generated.key.public_jwk());
            let jwk = read.public_jwk();
            assert_eq!(jwk["kid"], "edge-1/k1");
            assert_eq!(jwk["use"], "sig");
            assert!(jwk.get("d").is_none(), "{jwk}");
        }
        assert!(SigningKey::generate(Algorithm::HS256, "k").is_err());
        assert!(SigningKey::generate(Algorithm::RS256, "k").is_err());
    }

    #[test]
    fn a_private_jwk_signs_like_its_pem() {
        use aws_lc_rs::encoding::AsBigEndian as _;
        let pair = Ed25519KeyPair::generate().unwrap();
        let seed = pair.seed().unwrap();
        let jwk = json!({
            "kty": "OKP", "crv": "Ed25519", "kid": "k-jwk",
            "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
            "d": URL_SAFE_NO_PAD.encode(seed.as_be_bytes().unwrap().as_ref()),
        });
        let key = SigningKey::from_jwk(&jwk.to_string()).unwrap();
        assert_eq!(key.alg(), Algorithm::EdDSA);
        assert_eq!(key.kid(), Some("k-jwk"));
        let mut wrong = jwk.clone();
        wrong["x"] = json!(URL_SAFE_NO_PAD.encode([1u8; 32]));
        assert!(SigningKey::from_jwk(&wrong.to_string()).is_err());
        assert!(SigningKey::from_jwk(r#"{"kty":"oct","k":"AAAA"}"#).is_err());
    }

    #[test]
    fn a_shared_secret_mints_hs256_tokens_without_a_kid() {
        assert!(SigningKey::shared_secret(b"too short").is_err());
        let secret = b"0123456789abcdef0123456789abcdef";
        let token = SigningKey::shared_secret(secret)
            .unwrap()
            .mint(&MintRequest {
                issuer: "tenantry".into(),
                audience: "tenantry-admin".into(),
                subject: None,
                tenants: vec!["t1".into()],
                issued_at: 1_700_000_000,
                ttl_secs: 60,
            })
            .unwrap();
        let mut validation = jsonwebtoken::Validation::new(Algorithm::HS256);
        validation.set_audience(&["tenantry-admin"]);
        validation.validate_exp = false;
        let decoded = jsonwebtoken::decode::<Value>(
            &token,
            &jsonwebtoken::DecodingKey::from_secret(secret).unwrap(),
            &validation,
        )
        .unwrap();
        assert_eq!(decoded.header.kid, None);
        assert_eq!(decoded.claims["iss"], "tenantry");
        assert_eq!(decoded.claims["tenants"], json!(["t1"]));
    }

    #[test]
    fn minting_needs_a_kid_and_key_sets_replace_a_kid() {
        let mut key = SigningKey::generate(Algorithm::EdDSA, "k1").unwrap().key;
        let request = MintRequest {
            issuer: "edge-1".into(),
            audience: "tenantry-context-api".into(),
            subject: None,
            tenants: vec!["*".into()],
            issued_at: 1_700_000_000,
            ttl_secs: 300,
        };
        assert_eq!(key.mint(&request).unwrap().split('.').count(), 3);
        key.kid = None;
        assert!(key.mint(&request).unwrap_err().to_string().contains("kid"));
        let one = add_to_key_set(None, json!({"kid": "k1", "x": "a"})).unwrap();
        let two = add_to_key_set(Some(&one), json!({"kid": "k2", "x": "b"})).unwrap();
        let replaced = add_to_key_set(Some(&two), json!({"kid": "k1", "x": "c"})).unwrap();
        let doc: Value = serde_json::from_str(&replaced).unwrap();
        assert_eq!(doc["keys"].as_array().unwrap().len(), 2);
        assert_eq!(doc["keys"][1]["x"], "c");
    }

    #[test]
    fn pem_blocks_decode_and_other_labels_are_refused() {
        let pem = pem_encode("PRIVATE KEY", &[1, 2, 3]);
        assert_eq!(
            pem_decode(&pem).unwrap(),
            ("PRIVATE KEY".into(), vec![1, 2, 3])
        );
        assert!(pem_decode("nothing").is_err());
        let public = pem_encode("PUBLIC KEY", &[1]);
        assert!(SigningKey::from_pem(&public, None).is_err());
    }
}
