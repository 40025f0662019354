//! The recorder verifies tokens strictly (case R1). Tokens are built by hand
//! here (base64url + `ring` HMAC-SHA256), independently of the crate's signer,
//! so a lenient verifier cannot hide behind a matching signer.

use crate::helpers::{recorder, secret_for};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};
use tenantry_apps::recorder::AppRecorder;

const APP: &str = "jira-slack";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A compact JWS: `header.claims.HMAC-SHA256(secret)`; `secret: None` leaves
/// the signature empty (as `alg: none` tokens do).
fn jwt(header: &Value, claims: &Value, secret: Option<&str>) -> String {
    let signing_input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let signature = secret.map_or_else(String::new, |secret| {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
        B64.encode(ring::hmac::sign(&key, signing_input.as_bytes()))
    });
    format!("{signing_input}.{signature}")
}

fn good_claims() -> Value {
    json!({"iss": "tenantry", "aud": APP, "sub": "t1", "iat": now(), "exp": now() + 60, "jti": "k1"})
}

fn body() -> Value {
    json!({"event": "installed", "app": APP, "tenant_id": "t1", "product": "jira",
           "site_host": "acme.tenantry.test", "idempotency_key": "k1"})
}

/// Posts an `installed` callback; returns the status and the JSON body (or `Null`).
async fn post(rec: &AppRecorder, authorization: Option<String>) -> (u16, Value) {
    let http = reqwest::Client::new();
    let mut request = http
        .post(format!("{}/installed", rec.base_url(APP)))
        .json(&body());
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn without(claims: &Value, name: &str) -> Value {
    let mut claims = claims.clone();
    claims.as_object_mut().unwrap().remove(name);
    claims
}

fn with(claims: &Value, name: &str, value: Value) -> Value {
    let mut claims = claims.clone();
    claims[name] = value;
    claims
}

#[tokio::test]
async fn a_hand_made_valid_token_is_accepted() {
    let rec = recorder(&[APP]).await;
    let hs256 = json!({"alg": "HS256", "typ": "JWT"});
    let token = jwt(&hs256, &good_claims(), Some(&secret_for(APP)));
    assert_eq!(post(&rec, Some(format!("Bearer {token}"))).await.0, 204);
    assert_eq!(rec.calls().len(), 1);
}

#[tokio::test]
async fn bad_tokens_are_rejected_with_401_and_a_reason() {
    let rec = recorder(&[APP]).await;
    let hs256 = json!({"alg": "HS256", "typ": "JWT"});
    let secret = secret_for(APP);
    let good = good_claims();
    let signed = |claims: &Value| format!("Bearer {}", jwt(&hs256, claims, Some(&secret)));
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no Authorization header", None),
        (
            "not a bearer token",
            Some(format!("Basic {}", B64.encode("a:b"))),
        ),
        ("garbage", Some("Bearer not.a.jwt".into())),
        (
            "wrong secret",
            Some(format!(
                "Bearer {}",
                jwt(&hs256, &good, Some(&secret_for("other-app")))
            )),
        ),
        (
            "alg none",
            Some(format!(
                "Bearer {}",
                jwt(&json!({"alg": "none"}), &good, None)
            )),
        ),
        (
            "alg none, signed",
            Some(format!(
                "Bearer {}",
                jwt(&json!({"alg": "none"}), &good, Some(&secret))
            )),
        ),
        (
            "alg HS384 label",
            Some(format!(
                "Bearer {}",
                jwt(&json!({"alg": "HS384"}), &good, Some(&secret))
            )),
        ),
        ("no exp", Some(signed(&without(&good, "exp")))),
        (
            "exp as a string",
            Some(signed(&with(&good, "exp", json!((now() + 60).to_string())))),
        ),
        (
            "expired 30 s ago (leeway 5 s)",
            Some(signed(&with(&good, "exp", json!(now() - 30)))),
        ),
        ("no iss", Some(signed(&without(&good, "iss")))),
        (
            "another iss",
            Some(signed(&with(&good, "iss", json!("someone-else")))),
        ),
        ("no aud", Some(signed(&without(&good, "aud")))),
        (
            "aud of another app",
            Some(signed(&with(&good, "aud", json!("other-app")))),
        ),
        ("no sub", Some(signed(&without(&good, "sub")))),
        (
            "sub of another tenant",
            Some(signed(&with(&good, "sub", json!("t2")))),
        ),
        (
            "jti of another call",
            Some(signed(&with(&good, "jti", json!("k2")))),
        ),
    ];
    for (case, authorization) in cases {
        let (status, body) = post(&rec, authorization).await;
        assert_eq!(status, 401, "{case}: {body}");
        let reason = body["error"].as_str().unwrap_or_default();
        assert!(!reason.is_empty(), "{case}: no JSON reason in {body}");
    }
    assert!(rec.calls().is_empty(), "a bad token was recorded");
}
