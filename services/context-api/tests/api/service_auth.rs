//! Service tokens (ASAP-style) against the real HTTP API: keys from a JWK
//! set file or a loopback URL, EdDSA / ES256 / RS256 signatures, the issuer
//! → route allow-list, tenant scoping by id and by host, key rotation, and
//! the failure counter.

use crate::fixtures::active_tenant;
use crate::{TestApp, spawn_app_with_auth};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tenantry_context_api::ApiAuth;
use tenantry_context_api::auth::{AuthConfig, JwksConfig, RouteAllowList, SigningKey};

const AUDIENCE: &str = "tenantry-context-api";
const BY_ID: &str = "/v1/tenants/acme-corp/context";
const BY_HOST: &str = "/v1/sites/acme.tenantry.test/context";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Claims of a good token of `issuer` for `tenants`.
fn claims(issuer: &str, tenants: &[&str]) -> Value {
    json!({
        "iss": issuer,
        "aud": AUDIENCE,
        "iat": now(),
        "exp": now() + 300,
        "tenants": tenants,
    })
}

fn without(mut claims: Value, field: &str) -> Value {
    claims.as_object_mut().unwrap().remove(field);
    claims
}

fn with(mut claims: Value, field: &str, value: Value) -> Value {
    claims[field] = value;
    claims
}

/// A compact JWS with any header, signed by `sign` over `header.claims`.
fn jws(header: &Value, claims: &Value, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = sign(message.as_bytes());
    format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// An RSA-2048 key: tokens are signed by hand (RS256, RFC 7518 §3.3).
struct RsaKey {
    kid: String,
    pair: RsaKeyPair,
}

impl RsaKey {
    fn new(kid: &str) -> Self {
        Self {
            kid: kid.into(),
            pair: RsaKeyPair::generate(KeySize::Rsa2048).unwrap(),
        }
    }

    fn jwk(&self) -> Value {
        let public = RsaPublicKeyComponents::<Vec<u8>>::from(self.pair.public_key());
        json!({"kty": "RSA", "kid": self.kid, "alg": "RS256", "use": "sig",
               "n": URL_SAFE_NO_PAD.encode(&public.n), "e": URL_SAFE_NO_PAD.encode(&public.e)})
    }

    fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": self.kid});
        jws(&header, claims, |message| {
            let mut signature = vec![0; self.pair.public_modulus_len()];
            self.pair
                .sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut signature,
                )
                .unwrap();
            signature
        })
    }
}

fn key(alg: Algorithm, kid: &str) -> SigningKey {
    SigningKey::generate(alg, kid).unwrap().key
}

fn key_set(jwks: &[Value]) -> String {
    json!({"keys": jwks}).to_string()
}

/// `edge-1` may call both routes, `billing` only the by-id route.
fn allow() -> RouteAllowList {
    RouteAllowList::parse([
        "edge-1=/v1/tenants/{tenant_id}/context,/v1/sites/{host}/context",
        "billing=/v1/tenants/{tenant_id}/context",
    ])
    .unwrap()
}

/// A server whose key set is the file `jwks` (kept in `dir`).
async fn app_with_key_file(jwks: &str, algorithms: Option<Vec<Algorithm>>) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, jwks).unwrap();
    let mut config = AuthConfig::key_set(JwksConfig::new(vec![path], None), AUDIENCE, allow());
    config.algorithms = algorithms;
    let auth = ApiAuth::from_config(config).await.unwrap();
    // The file is read at start; the periodic refresh logs and keeps the set
    // if the directory is gone by then.
    drop(dir);
    let app = spawn_app_with_auth(Some(auth)).await;
    app.contexts.put(&active_tenant()).await.unwrap();
    app
}

async fn call(app: &TestApp, path: &str, token: &str) -> (StatusCode, Value) {
    let response = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn eddsa_es256_and_rs256_service_tokens_are_accepted_by_id_and_by_host() {
    let ed = key(Algorithm::EdDSA, "edge-1/ed");
    let ec = key(Algorithm::ES256, "edge-1/ec");
    let rsa = RsaKey::new("edge-1/rsa");
    let app = app_with_key_file(
        &key_set(&[ed.public_jwk(), ec.public_jwk(), rsa.jwk()]),
        None,
    )
    .await;
    let ok = claims("edge-1", &["acme-corp"]);
    for (name, token) in [
        ("EdDSA", ed.sign(&ok).unwrap()),
        ("ES256", ec.sign(&ok).unwrap()),
        ("RS256", rsa.sign(&ok)),
        (
            "EdDSA, every tenant",
            ed.sign(&claims("edge-1", &["*"])).unwrap(),
        ),
    ] {
        for path in [BY_ID, BY_HOST] {
            let (status, body) = call(&app, path, &token).await;
            assert_eq!(status, StatusCode::OK, "{name} {path}: {body}");
            assert_eq!(body["tenant_id"], "acme-corp", "{name} {path}: {body}");
        }
    }
}

#[tokio::test]
async fn bad_service_tokens_are_401_and_forbidden_calls_403_each_with_its_reason() {
    let ed = key(Algorithm::EdDSA, "edge-1/ed");
    let ec = key(Algorithm::ES256, "edge-1/ec");
    let rsa = RsaKey::new("edge-1/rsa");
    let billing = key(Algorithm::EdDSA, "billing/k1");
    let ops = key(Algorithm::EdDSA, "ops/k1");
    let jwks = key_set(&[
        ed.public_jwk(),
        ec.public_jwk(),
        rsa.jwk(),
        billing.public_jwk(),
        ops.public_jwk(),
    ]);
    // RS256 keys may sit in the set, but this API allows EdDSA and ES256 only.
    let app = app_with_key_file(&jwks, Some(vec![Algorithm::EdDSA, Algorithm::ES256])).await;
    let ok = claims("edge-1", &["acme-corp"]);
    let ed_public = URL_SAFE_NO_PAD
        .decode(ed.public_jwk()["x"].as_str().unwrap())
        .unwrap();
    let impostor = key(Algorithm::EdDSA, "edge-1/ed");
    let no_kid = {
        let header = json!({"alg": "EdDSA", "typ": "JWT"});
        let pem = SigningKey::generate(Algorithm::EdDSA, "x")
            .unwrap()
            .private_pem;
        let pair = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(
            &base64::engine::general_purpose::STANDARD
                .decode(
                    pem.lines()
                        .filter(|l| !l.starts_with("-----"))
                        .collect::<String>(),
                )
                .unwrap(),
        )
        .unwrap();
        jws(&header, &ok, |m| pair.sign(m).as_ref().to_vec())
    };
    // HS256 with the EdDSA key's public bytes as the HMAC secret (RFC 8725
    // §2.1's algorithm confusion), under that key's kid.
    let confused = {
        let header = json!({"alg": "HS256", "typ": "JWT", "kid": "edge-1/ed"});
        jws(&header, &ok, |m| {
            let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &ed_public);
            aws_lc_rs::hmac::sign(&key, m).as_ref().to_vec()
        })
    };
    // An ES256 signature presented under the EdDSA key's kid.
    let mismatched = {
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": "edge-1/ed"});
        let token = ec.sign(&ok).unwrap();
        let signature = token.rsplit('.').next().unwrap().to_owned();
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(ok.to_string())
        );
        format!("{message}.{signature}")
    };
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"edge-1/ed"}"#),
        URL_SAFE_NO_PAD.encode(ok.to_string())
    );
    // (name, path, token, status, reason)
    let cases: Vec<(&str, &str, String, StatusCode, &str)> = vec![
        ("valid", BY_ID, ed.sign(&ok).unwrap(), StatusCode::OK, ""),
        (
            "no kid",
            BY_ID,
            no_kid,
            StatusCode::UNAUTHORIZED,
            "missing_kid",
        ),
        (
            "unknown kid",
            BY_ID,
            key(Algorithm::EdDSA, "edge-1/gone").sign(&ok).unwrap(),
            StatusCode::UNAUTHORIZED,
            "unknown_kid",
        ),
        (
            "signed by another key under a known kid",
            BY_ID,
            impostor.sign(&ok).unwrap(),
            StatusCode::UNAUTHORIZED,
            "bad_signature",
        ),
        (
            "expired beyond the leeway",
            BY_ID,
            ed.sign(&with(ok.clone(), "exp", json!(now() - 120)))
                .unwrap(),
            StatusCode::UNAUTHORIZED,
            "expired",
        ),
        (
            "no iat",
            BY_ID,
            ed.sign(&without(ok.clone(), "iat")).unwrap(),
            StatusCode::UNAUTHORIZED,
            "missing_claim",
        ),
        (
            "iat in the future",
            BY_ID,
            ed.sign(&with(ok.clone(), "iat", json!(now() + 600)))
                .unwrap(),
            StatusCode::UNAUTHORIZED,
            "issued_in_future",
        ),
        (
            "no iss",
            BY_ID,
            ed.sign(&without(ok.clone(), "iss")).unwrap(),
            StatusCode::UNAUTHORIZED,
            "missing_claim",
        ),
        (
            "no aud",
            BY_ID,
            ed.sign(&without(ok.clone(), "aud")).unwrap(),
            StatusCode::UNAUTHORIZED,
            "missing_claim",
        ),
        (
            "no exp",
            BY_ID,
            ed.sign(&without(ok.clone(), "exp")).unwrap(),
            StatusCode::UNAUTHORIZED,
            "missing_claim",
        ),
        (
            "aud of another service",
            BY_ID,
            ed.sign(&with(ok.clone(), "aud", json!("billing-api")))
                .unwrap(),
            StatusCode::UNAUTHORIZED,
            "wrong_audience",
        ),
        (
            "lives longer than an hour",
            BY_ID,
            ed.sign(&with(ok.clone(), "exp", json!(now() + 7200)))
                .unwrap(),
            StatusCode::UNAUTHORIZED,
            "lifetime_too_long",
        ),
        (
            "RS256, not on this API's algorithm allow-list",
            BY_ID,
            rsa.sign(&ok),
            StatusCode::UNAUTHORIZED,
            "algorithm_not_allowed",
        ),
        (
            "alg none",
            BY_ID,
            none,
            StatusCode::UNAUTHORIZED,
            "algorithm_not_allowed",
        ),
        (
            "HS256 signed with the public key as secret",
            BY_ID,
            confused,
            StatusCode::UNAUTHORIZED,
            "algorithm_not_allowed",
        ),
        (
            "ES256 under an EdDSA key's kid",
            BY_ID,
            mismatched,
            StatusCode::UNAUTHORIZED,
            "algorithm_mismatch",
        ),
        (
            "edge-1's key signing for billing",
            BY_ID,
            ed.sign(&claims("billing", &["acme-corp"])).unwrap(),
            StatusCode::UNAUTHORIZED,
            "kid_issuer_mismatch",
        ),
        (
            "issuer not on the allow-list",
            BY_ID,
            ops.sign(&claims("ops", &["*"])).unwrap(),
            StatusCode::FORBIDDEN,
            "issuer_not_allowed",
        ),
        (
            "billing by id: allowed",
            BY_ID,
            billing.sign(&claims("billing", &["acme-corp"])).unwrap(),
            StatusCode::OK,
            "",
        ),
        (
            "billing by host: route not allowed",
            BY_HOST,
            billing.sign(&claims("billing", &["*"])).unwrap(),
            StatusCode::FORBIDDEN,
            "route_not_allowed",
        ),
        (
            "scoped to another tenant, by id",
            BY_ID,
            ec.sign(&claims("edge-1", &["t16"])).unwrap(),
            StatusCode::FORBIDDEN,
            "tenant_not_in_scope",
        ),
        (
            "scoped to another tenant, by host",
            BY_HOST,
            ec.sign(&claims("edge-1", &["t16"])).unwrap(),
            StatusCode::FORBIDDEN,
            "tenant_not_in_scope",
        ),
        (
            "no tenants claim",
            BY_HOST,
            ec.sign(&without(ok.clone(), "tenants")).unwrap(),
            StatusCode::FORBIDDEN,
            "tenant_not_in_scope",
        ),
    ];
    for (name, path, token, expected, reason) in cases {
        // Twice: the second answer may come from the verified-token cache,
        // and must be the same.
        for attempt in 0..2 {
            let (status, body) = call(&app, path, &token).await;
            assert_eq!(status, expected, "{name} (attempt {attempt}): {body}");
            if expected != StatusCode::OK {
                let code = if expected == StatusCode::FORBIDDEN {
                    "forbidden"
                } else {
                    "unauthorized"
                };
                assert_eq!(body["error"]["code"], code, "{name}: {body}");
                assert_eq!(body["error"]["reason"], reason, "{name}: {body}");
                assert!(body["error"]["message"].is_string(), "{name}: {body}");
                if path == BY_HOST && reason == "tenant_not_in_scope" {
                    // A refusal by host does not tell who owns the host.
                    let message = body["error"]["message"].as_str().unwrap();
                    assert!(!message.contains("acme-corp"), "{name}: {body}");
                }
            }
        }
    }
}

/// A JWK set served on loopback; counts the fetches.
struct KeyServer {
    url: String,
    jwks: Arc<Mutex<String>>,
    fetches: Arc<AtomicUsize>,
    _shutdown: tokio_util::sync::DropGuard,
}

impl KeyServer {
    async fn start(jwks: String) -> Self {
        let jwks = Arc::new(Mutex::new(jwks));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (served, counted) = (jwks.clone(), fetches.clone());
        let router = axum::Router::new().route(
            "/.well-known/jwks.json",
            axum::routing::get(move || {
                counted.fetch_add(1, Ordering::SeqCst);
                let body = served.lock().unwrap().clone();
                async move { ([("content-type", "application/json")], body) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().unwrap()
        );
        let shutdown = tokio_util::sync::CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
        });
        Self {
            url,
            jwks,
            fetches,
            _shutdown: shutdown.drop_guard(),
        }
    }

    fn rotate(&self, jwks: String) {
        *self.jwks.lock().unwrap() = jwks;
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

async fn app_with_key_url(server: &KeyServer, refresh: Duration, min_refresh: Duration) -> TestApp {
    let mut jwks = JwksConfig::new(vec![], Some(server.url.clone()));
    jwks.refresh_interval = refresh;
    jwks.min_refresh_interval = min_refresh;
    let auth = ApiAuth::from_config(AuthConfig::key_set(jwks, AUDIENCE, allow()))
        .await
        .unwrap();
    let app = spawn_app_with_auth(Some(auth)).await;
    app.contexts.put(&active_tenant()).await.unwrap();
    app
}

#[tokio::test]
async fn a_rotated_key_set_is_read_again_for_an_unknown_kid_and_a_retired_key_stops_working() {
    let old = key(Algorithm::EdDSA, "edge-1/2026-01");
    let new = key(Algorithm::ES256, "edge-1/2026-02");
    let server = KeyServer::start(key_set(&[old.public_jwk()])).await;
    let app = app_with_key_url(&server, Duration::ZERO, Duration::ZERO).await;
    let ok = claims("edge-1", &["acme-corp"]);
    let old_token = old.sign(&ok).unwrap();
    assert_eq!(call(&app, BY_ID, &old_token).await.0, StatusCode::OK);
    assert_eq!(server.fetches(), 1);
    // Rotation: the new key replaces the old one at the URL.
    server.rotate(key_set(&[new.public_jwk()]));
    let (status, body) = call(&app, BY_ID, &new.sign(&ok).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "new kid after a refresh: {body}");
    assert_eq!(server.fetches(), 2);
    // The old token was cached; the changed set emptied the cache.
    let (status, body) = call(&app, BY_ID, &old_token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["reason"], "unknown_kid", "{body}");
}

#[tokio::test]
async fn unknown_kids_read_the_key_set_at_most_once_per_minimum_interval() {
    let known = key(Algorithm::EdDSA, "edge-1/k1");
    let server = KeyServer::start(key_set(&[known.public_jwk()])).await;
    let app = app_with_key_url(&server, Duration::ZERO, Duration::from_secs(3600)).await;
    let added = key(Algorithm::EdDSA, "edge-1/k2");
    server.rotate(key_set(&[known.public_jwk(), added.public_jwk()]));
    let ok = claims("edge-1", &["acme-corp"]);
    for kid in ["edge-1/k2", "edge-1/made-up-1", "edge-1/made-up-2"] {
        let token = key(Algorithm::EdDSA, kid).sign(&ok).unwrap();
        let (status, body) = call(&app, BY_ID, &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{kid}: {body}");
        assert_eq!(body["error"]["reason"], "unknown_kid", "{kid}: {body}");
    }
    assert_eq!(server.fetches(), 1, "only the read at start");
    assert_eq!(
        call(&app, BY_ID, &known.sign(&ok).unwrap()).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_key_set_is_read_again_periodically() {
    let first = key(Algorithm::EdDSA, "edge-1/k1");
    let second = key(Algorithm::ES256, "edge-1/k2");
    let server = KeyServer::start(key_set(&[first.public_jwk()])).await;
    // No unknown-kid reads: only the periodic refresh can bring k2.
    let app = app_with_key_url(
        &server,
        Duration::from_millis(100),
        Duration::from_secs(3600),
    )
    .await;
    server.rotate(key_set(&[first.public_jwk(), second.public_jwk()]));
    let token = second.sign(&claims("edge-1", &["acme-corp"])).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = call(&app, BY_ID, &token).await;
        if status == StatusCode::OK {
            break;
        }
        assert_eq!(body["error"]["reason"], "unknown_kid", "{body}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "k2 not accepted after 10 s of periodic refreshes"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(server.fetches() >= 2);
}

#[tokio::test]
async fn a_key_set_url_that_cannot_be_read_at_start_is_a_configuration_error() {
    let server = KeyServer::start("not json".into()).await;
    let jwks = JwksConfig::new(vec![], Some(server.url.clone()));
    let error = ApiAuth::from_config(AuthConfig::key_set(jwks, AUDIENCE, allow()))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("not JSON"), "{error}");
    let plain = JwksConfig::new(vec![], Some("http://keys.example.com/jwks.json".into()));
    let error = ApiAuth::from_config(AuthConfig::key_set(plain, AUDIENCE, allow()))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("https://"), "{error}");
}
