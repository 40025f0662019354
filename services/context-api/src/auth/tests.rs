//! Unit tests of the token pipeline: header and bearer parsing, the claim
//! rules (`iat`, lifetime), the cache, configuration checks, and algorithm
//! confusion refused by the crypto provider itself.

use super::*;
use axum::http::HeaderValue;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};

const SECRET: &[u8] = b"unit-test-secret-unit-test-secret-0123";

fn headers(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    headers
}

fn hs256(claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(SECRET).unwrap(),
    )
    .unwrap()
}

fn claims() -> Value {
    let now = now();
    json!({"iss": "tenantry", "aud": "tenantry-context-api", "iat": now, "exp": now + 300, "tenants": ["t1"]})
}

fn auth() -> ApiAuth {
    ApiAuth::new(SECRET, "tenantry", "tenantry-context-api", 30).unwrap()
}

async fn reason(auth: &ApiAuth, token: &str) -> Option<Reason> {
    auth.authenticate(&headers(token))
        .await
        .err()
        .map(|f| f.reason)
}

#[test]
fn bearer_header_forms() {
    let mut h = HeaderMap::new();
    assert_eq!(bearer(&h).unwrap_err().reason, Reason::MissingToken);
    for (value, expected) in [
        ("Bearer abc", Some("abc")),
        ("bearer abc", Some("abc")),
        ("BEARER  abc ", Some("abc")),
        ("Basic abc", None),
        ("Bearer ", None),
        ("Bearer", None),
    ] {
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        assert_eq!(bearer(&h).ok(), expected, "{value:?}");
    }
}

#[test]
fn jose_headers_must_be_three_parts_of_json_without_crit() {
    let b64 = |v: &str| URL_SAFE_NO_PAD.encode(v);
    let ok = format!("{}.e30.sig", b64(r#"{"alg":"EdDSA","kid":"a/1"}"#));
    let header = jose_header(&ok).unwrap();
    assert_eq!(
        (header.alg.as_deref(), header.kid.as_deref()),
        (Some("EdDSA"), Some("a/1"))
    );
    for bad in [
        "a.b".to_owned(),
        "a.b.c.d".to_owned(),
        "!!!.e30.sig".to_owned(),
        format!("{}.e30.sig", b64("[1]")),
        format!("{}.e30.sig", b64(r#"{"alg":"EdDSA","crit":["exp"]}"#)),
    ] {
        assert_eq!(
            jose_header(&bad).err().map(|f| f.reason),
            Some(Reason::MalformedToken),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn iat_is_required_not_in_the_future_and_bounds_the_lifetime() {
    let auth = auth();
    let now = now();
    assert_eq!(reason(&auth, &hs256(&claims())).await, None);
    let mut no_iat = claims();
    no_iat.as_object_mut().unwrap().remove("iat");
    assert_eq!(
        reason(&auth, &hs256(&no_iat)).await,
        Some(Reason::MissingClaim)
    );
    let mut ahead = claims();
    ahead["iat"] = json!(now + 20);
    assert_eq!(
        reason(&auth, &hs256(&ahead)).await,
        None,
        "within the leeway"
    );
    ahead["iat"] = json!(now + 120);
    assert_eq!(
        reason(&auth, &hs256(&ahead)).await,
        Some(Reason::IssuedInFuture)
    );
    let mut long = claims();
    long["exp"] = json!(now + DEFAULT_MAX_LIFETIME_SECS + 1);
    assert_eq!(
        reason(&auth, &hs256(&long)).await,
        Some(Reason::LifetimeTooLong)
    );
    let mut wrong_type = claims();
    wrong_type["exp"] = json!("tomorrow");
    assert!(reason(&auth, &hs256(&wrong_type)).await.is_some());
}

#[tokio::test]
async fn a_verified_token_is_cached_until_its_expiry_and_failures_are_not() {
    let auth = auth();
    let token = hs256(&claims());
    let first = auth.authenticate(&headers(&token)).await.unwrap();
    let second = auth.authenticate(&headers(&token)).await.unwrap();
    assert!(
        Arc::ptr_eq(&first, &second),
        "the second answer comes from the cache"
    );
    assert_eq!(first.issuer.as_deref(), Some("tenantry"));
    // Expired beyond exp but within the leeway: verified, never cached.
    let mut late = claims();
    late["exp"] = json!(now() - 5);
    let token = hs256(&late);
    let first = auth.authenticate(&headers(&token)).await.unwrap();
    let second = auth.authenticate(&headers(&token)).await.unwrap();
    assert!(!Arc::ptr_eq(&first, &second));
    let cache = auth.inner.cache.as_ref().unwrap();
    cache.run_pending_tasks();
    assert_eq!(cache.entry_count(), 1);
}

#[test]
fn algorithm_confusion_is_refused_by_the_provider_too() {
    // An HS256 token whose "secret" is an Ed25519 public key: the verifier
    // for HS256 refuses a key of the Ed family outright.
    let generated = SigningKey::generate(Algorithm::EdDSA, "k").unwrap();
    let x = generated.key.public_jwk()["x"].as_str().unwrap().to_owned();
    let public = URL_SAFE_NO_PAD.decode(&x).unwrap();
    let forged = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(&public).unwrap(),
    )
    .unwrap();
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&["tenantry-context-api"]);
    let key = DecodingKey::from_ed_der(&public);
    let error = jsonwebtoken::decode::<Value>(&forged, &key, &validation).unwrap_err();
    assert_eq!(error.kind(), &ErrorKind::InvalidKeyFormat);
    assert_eq!(
        decode_failure(error.kind()).reason,
        Reason::AlgorithmMismatch
    );
}

#[tokio::test]
async fn configurations_that_cannot_be_safe_are_refused() {
    let jwks = JwksConfig::new(vec!["/nonexistent/jwks.json".into()], None);
    let allow = RouteAllowList::parse(["edge=*"]).unwrap();
    let cases: Vec<(AuthConfig, &str)> = vec![
        (
            AuthConfig::key_set(jwks.clone(), "api", RouteAllowList::new()),
            "allow-list",
        ),
        (
            AuthConfig {
                algorithms: Some(vec![Algorithm::EdDSA, Algorithm::HS256]),
                ..AuthConfig::key_set(jwks.clone(), "api", allow.clone())
            },
            "HS256 needs",
        ),
        (
            AuthConfig {
                algorithms: Some(vec![]),
                ..AuthConfig::key_set(jwks.clone(), "api", allow.clone())
            },
            "api_jwt_algorithms",
        ),
        (
            AuthConfig::key_set(jwks.clone(), "", allow.clone()),
            "audience",
        ),
        (
            AuthConfig::key_set(jwks, "api", allow),
            "/nonexistent/jwks.json",
        ),
        (
            AuthConfig {
                algorithms: Some(vec![Algorithm::ES256]),
                ..AuthConfig::shared_secret(SECRET, "tenantry", "api", 30)
            },
            "HS256 only",
        ),
        (
            AuthConfig::shared_secret(b"short", "tenantry", "api", 30),
            "at least 32 bytes",
        ),
    ];
    for (config, fragment) in cases {
        let error = ApiAuth::from_config(config).await.unwrap_err().to_string();
        assert!(error.contains(fragment), "{fragment}: {error}");
    }
}

#[tokio::test]
async fn allows_any_reads_the_configured_allow_list() {
    // Without a list the secret's issuer gets the context routes only.
    assert!(auth().allows_any(&Route::ALL));
    assert!(!auth().allows_any(&Route::ADMIN));
    for (entries, admin) in [(["tenantry=*"], false), (["tenantry=/admin/*"], true)] {
        let config = AuthConfig {
            allow: Some(RouteAllowList::parse(entries).unwrap()),
            ..AuthConfig::shared_secret(SECRET, "tenantry", "api", 30)
        };
        let auth = ApiAuth::from_config(config).await.unwrap();
        assert_eq!(auth.allows_any(&Route::ADMIN), admin, "{entries:?}");
    }
}
