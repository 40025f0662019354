//! Case R1 (`shared/cases`): bearer tokens on the context API in the
//! shared-secret (HS256) mode, every check mandatory — `exp`, `aud`, `iss`,
//! `iat` required, HS256 only, a token scoped to one tenant cannot read
//! another, leeway honoured and no more. Service tokens from a key set are
//! in `service_auth.rs`.

use crate::fixtures::active_tenant;
use crate::spawn_app_with_auth;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};
use tenantry_context_api::ApiAuth;

const SECRET: &[u8] = b"context-api-test-secret-0123456789abcdef";
const LEEWAY_SECS: u64 = 30;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn sign(claims: &Value) -> String {
    tenantry_apps::ensure_crypto_provider();
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(SECRET).unwrap(),
    )
    .unwrap()
}

/// A well-formed `alg: none` token (header and claims, empty signature).
fn unsigned(claims: &Value) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.",
        b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
        b64.encode(claims.to_string())
    )
}

fn claims(tenants: &[&str]) -> Value {
    json!({
        "iss": "tenantry",
        "aud": "tenantry-context-api",
        "sub": "edge-1",
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

async fn get(app: &crate::TestApp, path: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut request = app.client.get(app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test]
async fn r1_every_token_check_is_mandatory() {
    let auth = ApiAuth::new(SECRET, "tenantry", "tenantry-context-api", LEEWAY_SECS).unwrap();
    let app = spawn_app_with_auth(Some(auth)).await;
    app.contexts.put(&active_tenant()).await.unwrap();
    let path = "/v1/tenants/acme-corp/context";
    let ok = claims(&["acme-corp"]);
    // (name, token, expected status, fragment of the message)
    let cases: Vec<(&str, Option<String>, StatusCode, &str)> = vec![
        (
            "valid, scoped to the tenant",
            Some(sign(&ok)),
            StatusCode::OK,
            "",
        ),
        (
            "valid, every tenant",
            Some(sign(&claims(&["*"]))),
            StatusCode::OK,
            "",
        ),
        (
            "no token",
            None,
            StatusCode::UNAUTHORIZED,
            "no Authorization header",
        ),
        (
            "(a) no aud",
            Some(sign(&without(ok.clone(), "aud"))),
            StatusCode::UNAUTHORIZED,
            "`aud`",
        ),
        (
            "(b) aud of another service",
            Some(sign(&with(ok.clone(), "aud", json!("billing-api")))),
            StatusCode::UNAUTHORIZED,
            "`aud` is not this API",
        ),
        (
            "(c) alg none",
            Some(unsigned(&ok)),
            StatusCode::UNAUTHORIZED,
            "",
        ),
        (
            "(d) no exp",
            Some(sign(&without(ok.clone(), "exp"))),
            StatusCode::UNAUTHORIZED,
            "`exp`",
        ),
        (
            "no iat",
            Some(sign(&without(ok.clone(), "iat"))),
            StatusCode::UNAUTHORIZED,
            "`iat`",
        ),
        (
            "(e) expired 20 s ago, within the 30 s leeway",
            Some(sign(&with(ok.clone(), "exp", json!(now() - 20)))),
            StatusCode::OK,
            "",
        ),
        (
            "expired beyond the leeway",
            Some(sign(&with(ok.clone(), "exp", json!(now() - 120)))),
            StatusCode::UNAUTHORIZED,
            "expired",
        ),
        (
            "no iss",
            Some(sign(&without(ok.clone(), "iss"))),
            StatusCode::UNAUTHORIZED,
            "`iss`",
        ),
        (
            "untrusted iss",
            Some(sign(&with(ok.clone(), "iss", json!("someone-else")))),
            StatusCode::UNAUTHORIZED,
            "`iss`",
        ),
        (
            "signed with another secret",
            Some({
                tenantry_apps::ensure_crypto_provider();
                jsonwebtoken::encode(
                    &Header::new(Algorithm::HS256),
                    &ok,
                    &EncodingKey::from_secret(b"another-secret-another-secret-0123456789").unwrap(),
                )
                .unwrap()
            }),
            StatusCode::UNAUTHORIZED,
            "signature",
        ),
        (
            "(f) scoped to another tenant",
            Some(sign(&claims(&["t15"]))),
            StatusCode::FORBIDDEN,
            "acme-corp",
        ),
    ];
    for (name, token, expected, fragment) in cases {
        let (status, body) = get(&app, path, token.as_deref()).await;
        assert_eq!(status, expected, "{name}: {body}");
        if expected != StatusCode::OK {
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert!(
                body["error"]["code"].is_string()
                    && body["error"]["reason"].is_string()
                    && message.contains(fragment),
                "{name}: {body}"
            );
        }
    }
}

#[tokio::test]
async fn r1_scope_applies_to_lookups_by_host_and_probes_stay_open() {
    let auth = ApiAuth::new(SECRET, "tenantry", "tenantry-context-api", LEEWAY_SECS).unwrap();
    let app = spawn_app_with_auth(Some(auth)).await;
    app.contexts.put(&active_tenant()).await.unwrap();
    let path = "/v1/sites/acme.tenantry.test/context";
    let (status, _) = get(&app, path, Some(&sign(&claims(&["t16"])))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = get(&app, path, Some(&sign(&claims(&["acme-corp"])))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = get(&app, "/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
}

#[test]
fn a_short_secret_is_refused() {
    let error = ApiAuth::new(b"short", "tenantry", "tenantry-context-api", 30).unwrap_err();
    assert!(error.to_string().contains("at least 32 bytes"), "{error}");
}
