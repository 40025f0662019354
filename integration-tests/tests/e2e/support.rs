//! Test harness: fresh databases and topics, the services in-process, the
//! CLI as a process, and polling with deadlines.

use sqlx::Connection;
use std::path::PathBuf;
use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tenantry_kafka::{KafkaConfig, ensure_topics};
use tenantry_projector::ProjectorConfig;
use tenantry_provisioner::{ProductDbTarget, ProvisionerConfig};
use tenantry_schemas::{Codec, Topics};
use tenantry_store::{ContextStore, EffectsConfig, Store};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Site domain used by the tests.
pub const DOMAIN: &str = "tenantry.test";

pub fn bootstrap() -> String {
    std::env::var("TENANTRY_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

fn server_url() -> String {
    let url = std::env::var("TENANTRY_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/tenantry".into());
    match url.rsplit_once('/') {
        Some((server, _)) => server.to_owned(),
        None => url,
    }
}

/// Creates an empty PostgreSQL database and returns its URL.
pub async fn fresh_database() -> String {
    let name = format!("tenantry_it_{}", Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&format!("{}/postgres", server_url()))
        .await
        .expect("PostgreSQL from TENANTRY_DATABASE_URL is reachable (run infra/local/up)");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create test database");
    format!("{}/{name}", server_url())
}

/// Fresh topics with a unique suffix, created on the broker.
pub async fn fresh_topics() -> (String, Topics) {
    let suffix = Uuid::new_v4().simple().to_string()[..12].to_owned();
    let topics = Topics::with_suffix(&suffix);
    ensure_topics(
        &KafkaConfig::new(bootstrap(), "tenantry-it"),
        &topics.with_partitions(),
    )
    .await
    .expect("broker from TENANTRY_BOOTSTRAP is reachable (run infra/local/up)");
    (suffix, topics)
}

/// The `tenantry` binary.
pub fn tenantry_bin() -> PathBuf {
    if let Ok(path) = std::env::var("TENANTRY_BIN") {
        return path.into();
    }
    // target/debug/deps/e2e-… → target/debug/tenantry
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join("tenantry"))
        .expect("target dir")
}

/// Runs `tenantry <args>` with a clean TENANTRY_* environment plus `env`.
pub async fn tenantry(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = tokio::process::Command::new(tenantry_bin());
    for (name, _) in std::env::vars() {
        if name.starts_with("TENANTRY_") {
            command.env_remove(name);
        }
    }
    command
        .args(args)
        .envs(env.iter().copied())
        .kill_on_drop(true);
    tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("tenantry finishes within 120 s")
        .expect("tenantry binary runs (build it: cargo build --bin tenantry)")
}

/// Polls `probe` until it returns `Some` or `timeout` passes.
pub async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Provisioner, projector and context API running in-process on the local
/// stack, on fresh topics and databases.
pub struct Stack {
    pub suffix: String,
    pub topics: Topics,
    pub database_url: String,
    pub api: String,
    pub store: Store,
    pub contexts: ContextStore,
    pub shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Stack {
    pub async fn start() -> Self {
        let (suffix, topics) = fresh_topics().await;
        let database_url = fresh_database().await;
        let store = Store::connect(&database_url, 4).await.expect("store");
        let contexts = ContextStore::new(store.clone());
        let codec = Arc::new(Codec::embedded());
        let shutdown = CancellationToken::new();
        let provisioner = ProvisionerConfig {
            kafka: KafkaConfig::new(bootstrap(), "it-provisioner"),
            topics: topics.clone(),
            group_id: format!("it-provisioner-{suffix}"),
            database_url: database_url.clone(),
            product_databases: ProductDbTarget::PostgresSchemas,
            effects: EffectsConfig {
                site_domain: DOMAIN.into(),
                shard_capacity: 100,
            },
            step_attempts: 3,
            workers: 4,
            codec: codec.clone(),
        };
        let projector = ProjectorConfig {
            kafka: KafkaConfig::new(bootstrap(), "it-projector"),
            topics: topics.clone(),
            group_id: format!("it-projector-{suffix}"),
            codec,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = format!("http://{}", listener.local_addr().unwrap());
        let tasks = vec![
            tokio::spawn(tenantry_provisioner::run(provisioner, shutdown.clone())),
            tokio::spawn(tenantry_projector::run(
                projector,
                contexts.clone(),
                shutdown.clone(),
            )),
            tokio::spawn(tenantry_context_api::serve(
                listener,
                store.clone(),
                shutdown.clone(),
            )),
        ];
        Self {
            suffix,
            topics,
            database_url,
            api,
            store,
            contexts,
            shutdown,
            tasks,
        }
    }

    /// Environment for `tenantry` so it talks to this stack.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("TENANTRY_BOOTSTRAP", bootstrap()),
            ("TENANTRY_TOPIC_SUFFIX", self.suffix.clone()),
            ("TENANTRY_DATABASE_URL", self.database_url.clone()),
            ("TENANTRY_SITE_DOMAIN", DOMAIN.into()),
        ]
    }

    /// Runs `tenantry` against this stack; asserts it succeeded.
    pub async fn cli(&self, args: &[&str]) -> String {
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let output = tenantry(args, &env).await;
        assert!(
            output.status.success(),
            "tenantry {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// GET `path` on the context API: (status, JSON body).
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        get_json(&format!("{}{path}", self.api)).await
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        for task in self.tasks {
            task.await
                .expect("task joins")
                .expect("service ends cleanly");
        }
    }
}

/// GET a URL: (status, JSON body or Null).
pub async fn get_json(url: &str) -> (u16, serde_json::Value) {
    let response = reqwest::get(url).await.expect("HTTP request");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(serde_json::Value::Null);
    (status, body)
}

/// Waits until the tenant's product is in `state` via the API; returns the context.
pub async fn wait_for_product(
    api: &str,
    tenant: &str,
    product: &str,
    state: &str,
) -> serde_json::Value {
    let url = format!("{api}/v1/tenants/{tenant}/context");
    wait_for(
        Duration::from_secs(60),
        &format!("{tenant} {product} {state}"),
        || {
            let url = url.clone();
            async move {
                let (status, body) = get_json(&url).await;
                (status == 200 && body["products"][product]["state"] == state).then_some(body)
            }
        },
    )
    .await
}
