//! Client for the Confluent Schema Registry REST API (also served by
//! Redpanda and Karapace): `GET /schemas/ids/{id}` and
//! `POST /subjects/{subject}/versions`.

use apache_avro::Schema;
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use tenantry_schemas::catalog::Catalog;
use tenantry_schemas::{RegistryError, SchemaRegistry};

/// Media type of the Confluent REST API, v1.
const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";
/// Confluent error code for "schema not found".
const SCHEMA_NOT_FOUND: i64 = 40403;

/// Production [`SchemaRegistry`]: the Confluent Schema Registry REST API.
///
/// Both lookups are cached in memory for the life of the client: a schema id
/// never changes meaning, and a (subject, schema) pair keeps its id.
/// Default timeouts: 5 s to connect, 30 s per request.
pub struct ConfluentRegistry {
    base: Url,
    client: reqwest::Client,
    auth: Option<(String, String)>,
    schemas: RwLock<HashMap<u32, Arc<Schema>>>,
    ids: RwLock<HashMap<(String, String), u32>>,
}

impl fmt::Debug for ConfluentRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfluentRegistry")
            .field("base", &self.base.as_str())
            .field("user", &self.auth.as_ref().map(|(u, _)| u))
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct SchemaById {
    schema: String,
    #[serde(rename = "schemaType")]
    schema_type: Option<String>,
    #[serde(default)]
    references: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Registered {
    id: u32,
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    error_code: Option<i64>,
    message: Option<String>,
}

impl ConfluentRegistry {
    /// A client for the registry at `base_url` (`http://127.0.0.1:8081`; a
    /// path prefix such as `https://host/registry/` is kept).
    ///
    /// # Errors
    /// [`RegistryError::Rejected`] if `base_url` is not an absolute http(s)
    /// URL or the HTTP client cannot be built.
    pub fn new(base_url: &str) -> Result<Self, RegistryError> {
        let base = Url::parse(base_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && !u.cannot_be_a_base())
            .ok_or_else(|| {
                RegistryError::Rejected(format!(
                    "schema registry URL {base_url:?} is not an http(s) URL"
                ))
            })?;
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| RegistryError::Rejected(format!("HTTP client: {e}")))?;
        Ok(Self {
            base,
            client,
            auth: None,
            schemas: RwLock::default(),
            ids: RwLock::default(),
        })
    }

    /// Sends HTTP basic authentication (RFC 7617) with every request.
    pub fn with_basic_auth(
        mut self,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.auth = Some((username.into(), password.into()));
        self
    }

    /// Uses `client` instead of the default one (own timeouts, proxies, TLS roots).
    pub fn with_client(mut self, client: reqwest::Client) -> Self {
        self.client = client;
        self
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            // Checked in `new`: an http(s) URL can be a base.
            path.pop_if_empty().extend(segments);
        }
        url
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<(StatusCode, String), RegistryError> {
        let request = match &self.auth {
            Some((user, password)) => request.basic_auth(user, Some(password)),
            None => request,
        };
        let response = request
            .header(reqwest::header::ACCEPT, CONTENT_TYPE)
            .send()
            .await
            .map_err(|e| RegistryError::Unavailable(format!("{what}: {}", e.without_url())))?;
        let status = response.status();
        let body = response.text().await.map_err(|e| {
            RegistryError::Unavailable(format!("{what}: reading the body: {}", e.without_url()))
        })?;
        Ok((status, body))
    }
}

/// Classifies a non-2xx answer; see [`RegistryError`] for the rules.
fn classify(status: StatusCode, body: &str, what: &str) -> RegistryError {
    let error: ErrorBody = serde_json::from_str(body).unwrap_or_default();
    let detail = format!(
        "{what}: HTTP {status}{}{}",
        error
            .error_code
            .map(|c| format!(", error code {c}"))
            .unwrap_or_default(),
        error.message.map(|m| format!(": {m}")).unwrap_or_default(),
    );
    let transient = status.is_server_error()
        || matches!(
            status,
            StatusCode::REQUEST_TIMEOUT
                | StatusCode::TOO_MANY_REQUESTS
                | StatusCode::UNAUTHORIZED
                | StatusCode::FORBIDDEN
        );
    if transient || !status.is_client_error() {
        RegistryError::Unavailable(detail)
    } else {
        RegistryError::Rejected(detail)
    }
}

#[async_trait::async_trait]
impl SchemaRegistry for ConfluentRegistry {
    /// `GET /schemas/ids/{id}`. HTTP 404 with error code 40403 is
    /// [`RegistryError::NotFound`]; a 404 without that code (a proxy, a wrong
    /// URL path) is [`RegistryError::Unavailable`], so a misconfigured URL
    /// pauses consumers instead of dead-lettering every record.
    async fn schema_by_id(&self, id: u32) -> Result<Arc<Schema>, RegistryError> {
        if let Some(schema) = self
            .schemas
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
        {
            return Ok(Arc::clone(schema));
        }
        let what = format!("GET schema id {id}");
        let url = self.url(&["schemas", "ids", &id.to_string()]);
        let (status, body) = self.send(self.client.get(url), &what).await?;
        if status == StatusCode::NOT_FOUND {
            let error: ErrorBody = serde_json::from_str(&body).unwrap_or_default();
            if error.error_code == Some(SCHEMA_NOT_FOUND) {
                return Err(RegistryError::NotFound { id });
            }
            return Err(RegistryError::Unavailable(format!(
                "{what}: HTTP 404 without Confluent error code {SCHEMA_NOT_FOUND}; check the registry URL"
            )));
        }
        if !status.is_success() {
            return Err(classify(status, &body, &what));
        }
        let found: SchemaById = serde_json::from_str(&body)
            .map_err(|e| RegistryError::Rejected(format!("{what}: unexpected answer: {e}")))?;
        if let Some(kind) = found.schema_type.filter(|k| k != "AVRO") {
            return Err(RegistryError::Rejected(format!(
                "{what}: a {kind} schema, not Avro"
            )));
        }
        if !found.references.is_empty() {
            return Err(RegistryError::Rejected(format!(
                "{what}: schema references are not supported; Tenantry schemas are self-contained"
            )));
        }
        let schema = Schema::parse_str(&found.schema).map_err(|e| {
            RegistryError::Rejected(format!("{what}: not a valid Avro schema: {e}"))
        })?;
        let schema = Arc::new(schema);
        self.schemas
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, Arc::clone(&schema));
        Ok(schema)
    }

    /// `POST /subjects/{subject}/versions` with `{"schema": "<json>"}`; the
    /// registry answers `{"id": n}` whether the schema is new or known. The
    /// JSON sent is [`Catalog::registry_json`] (keeps docs and defaults).
    async fn id_for(&self, subject: &str, schema: &Schema) -> Result<u32, RegistryError> {
        let json = Catalog::current().registry_json(schema);
        let key = (subject.to_owned(), json);
        if let Some(id) = self
            .ids
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return Ok(*id);
        }
        let what = format!("POST subject {subject}");
        let url = self.url(&["subjects", subject, "versions"]);
        let body = serde_json::json!({ "schema": key.1 }).to_string();
        let request = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .body(body);
        let (status, body) = self.send(request, &what).await?;
        if !status.is_success() {
            return Err(classify(status, &body, &what));
        }
        let Registered { id } = serde_json::from_str(&body)
            .map_err(|e| RegistryError::Rejected(format!("{what}: unexpected answer: {e}")))?;
        self.ids
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, id);
        Ok(id)
    }
}
