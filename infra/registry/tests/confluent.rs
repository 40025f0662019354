//! `ConfluentRegistry` against a fake of the two Confluent Schema Registry
//! endpoints it uses (`GET /schemas/ids/{id}`, `POST
//! /subjects/{subject}/versions`), served by axum on 127.0.0.1.
//!
//! This verifies our HTTP usage — paths, methods, media type, JSON shapes,
//! basic auth, caching and the classification of errors — against the
//! documented API, not against a real registry; the end-to-end suite does that.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tenantry_registry::ConfluentRegistry;
use tenantry_schemas::catalog::Catalog;
use tenantry_schemas::{
    COMMERCE_TOPIC, Codec, CommerceEvent, CommerceRecord, CountryCode, DecodeError, Envelope,
    RegistryError, SchemaRegistry, SiteName, TenantCreated, TenantId,
};

/// Basic auth of `tenantry:s3cret` (RFC 7617).
const AUTH: &str = "Basic dGVuYW50cnk6czNjcmV0";

#[derive(Default)]
struct Fake {
    schemas: Vec<String>,
    subjects: HashMap<(String, String), u32>,
    requests: usize,
    posted: Vec<(String, String)>,
}

type Shared = Arc<Mutex<Fake>>;

fn error(status: StatusCode, code: u32, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error_code": code, "message": message})),
    )
        .into_response()
}

fn authorised(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(AUTH)
}

async fn schema_by_id(
    State(fake): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<u32>,
) -> Response {
    let mut fake = fake.lock().unwrap();
    fake.requests += 1;
    if !authorised(&headers) {
        return error(StatusCode::UNAUTHORIZED, 40101, "Unauthorized");
    }
    if id == 500 {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            50001,
            "Error in the backend data store",
        );
    }
    match fake.schemas.get((id as usize).wrapping_sub(1)) {
        Some(schema) => axum::Json(json!({ "schema": schema })).into_response(),
        None => error(StatusCode::NOT_FOUND, 40403, "Schema not found"),
    }
}

async fn register(
    State(fake): State<Shared>,
    headers: HeaderMap,
    Path(subject): Path<String>,
    body: String,
) -> Response {
    let mut fake = fake.lock().unwrap();
    fake.requests += 1;
    if !authorised(&headers) {
        return error(StatusCode::UNAUTHORIZED, 40101, "Unauthorized");
    }
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/vnd.schemaregistry.v1+json")
    );
    let body: Value = serde_json::from_str(&body).unwrap();
    let schema = body["schema"].as_str().unwrap().to_owned();
    if apache_avro::Schema::parse_str(&schema).is_err() {
        return error(StatusCode::UNPROCESSABLE_ENTITY, 42201, "Invalid schema");
    }
    if subject.starts_with("incompatible-") {
        return error(
            StatusCode::CONFLICT,
            409,
            "Schema being registered is incompatible",
        );
    }
    fake.posted.push((subject.clone(), schema.clone()));
    let key = (subject, schema.clone());
    if let Some(id) = fake.subjects.get(&key) {
        return axum::Json(json!({ "id": id })).into_response();
    }
    let id = match fake.schemas.iter().position(|s| *s == schema) {
        Some(at) => at as u32 + 1,
        None => {
            fake.schemas.push(schema);
            fake.schemas.len() as u32
        }
    };
    fake.subjects.insert(key, id);
    axum::Json(json!({ "id": id })).into_response()
}

/// Starts the fake on a random port; returns its base URL and state.
async fn start() -> (String, Shared) {
    let fake = Shared::default();
    let app = Router::new()
        .route("/schemas/ids/{id}", get(schema_by_id))
        .route("/subjects/{subject}/versions", post(register))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), fake)
}

fn client(base: &str) -> ConfluentRegistry {
    ConfluentRegistry::new(base)
        .unwrap()
        .with_basic_auth("tenantry", "s3cret")
}

#[tokio::test]
async fn registers_and_fetches_every_event_schema_with_caching() {
    let (base, fake) = start().await;
    let registry = client(&base);
    for event in Catalog::current().events() {
        let subject = event.subject(COMMERCE_TOPIC);
        let id = registry.id_for(&subject, event.schema()).await.unwrap();
        let fetched = registry.schema_by_id(id).await.unwrap();
        assert_eq!(fetched.canonical_form(), event.schema().canonical_form());
        let before = fake.lock().unwrap().requests;
        assert_eq!(registry.id_for(&subject, event.schema()).await.unwrap(), id);
        registry.schema_by_id(id).await.unwrap();
        assert_eq!(
            fake.lock().unwrap().requests,
            before,
            "both lookups are cached"
        );
    }
    let fake = fake.lock().unwrap();
    assert_eq!(fake.schemas.len(), 15);
    let (subject, text) = fake
        .posted
        .iter()
        .find(|(s, _)| s.ends_with("tenantry.commerce.ProductActivated"))
        .unwrap();
    assert_eq!(
        subject,
        "commerce.lifecycle.v1-tenantry.commerce.ProductActivated"
    );
    // What is registered keeps the docs and the enum default (case A1).
    assert!(text.contains(r#""default":"UNKNOWN""#), "{text}");
    assert!(text.contains(r#""doc":"Licensed seats"#), "{text}");
}

#[tokio::test]
async fn codec_round_trips_through_the_registry() {
    let (base, _fake) = start().await;
    let codec = Codec::new(Arc::new(client(&base)));
    let record = CommerceRecord {
        envelope: Envelope {
            event_id: uuid::Uuid::from_u128(3),
            tenant_id: TenantId::parse("t3").unwrap(),
            sequence: 1,
            occurred_at_ms: 1_735_689_600_000,
            source: "commerce".into(),
            correlation_id: None,
            causation_id: None,
        },
        event: CommerceEvent::TenantCreated(TenantCreated {
            site: SiteName::parse("acme").unwrap(),
            owner_email: "owner@example.com".into(),
            country: CountryCode::parse("DE").unwrap(),
            residency_pin: None,
            kms_key: None,
        }),
    };
    let bytes = codec
        .encode_commerce(COMMERCE_TOPIC, &record)
        .await
        .unwrap();
    assert_eq!(&bytes[..5], &[0, 0, 0, 0, 1]);
    // A second codec has empty caches: it must fetch the writer schema by id.
    let other = Codec::new(Arc::new(client(&base)));
    assert_eq!(other.decode_commerce(&bytes).await.unwrap(), record);
    let unknown = [0, 0, 0, 0x27, 0x0f, 2];
    assert_eq!(
        other.decode_commerce(&unknown).await.unwrap_err(),
        DecodeError::UnknownSchema { id: 9999 }
    );
}

#[tokio::test]
async fn errors_are_classified_for_retry() {
    let (base, _fake) = start().await;
    let schema = Catalog::current().events().next().unwrap().schema().clone();

    assert_eq!(
        client(&base).schema_by_id(9999).await,
        Err(RegistryError::NotFound { id: 9999 })
    );

    let transient = [
        ("HTTP 500", client(&base).schema_by_id(500).await),
        (
            "no credentials",
            ConfluentRegistry::new(&base).unwrap().schema_by_id(1).await,
        ),
        (
            "404 without error code",
            client(&format!("{base}/wrong-prefix/"))
                .schema_by_id(1)
                .await,
        ),
        (
            "connection refused",
            client(&refused_url().await).schema_by_id(1).await,
        ),
    ];
    for (name, result) in transient {
        assert!(
            matches!(result, Err(RegistryError::Unavailable(_))),
            "{name}: {result:?}"
        );
    }

    let rejected = client(&base).id_for("incompatible-subject", &schema).await;
    assert!(
        matches!(rejected, Err(RegistryError::Rejected(ref m)) if m.contains("409")),
        "{rejected:?}"
    );

    assert!(matches!(
        ConfluentRegistry::new("not a url"),
        Err(RegistryError::Rejected(_))
    ));
}

/// A URL on which nothing listens: bind a port, then free it.
async fn refused_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}
