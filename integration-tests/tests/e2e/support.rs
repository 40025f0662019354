//! Test harness of the e2e binary: the services in-process ([`Stack`]) and
//! reading contexts over HTTP. Fresh databases and topics, the CLI as a
//! process and polling with deadlines come from the crate's shared harness
//! (`tenantry_integration_tests`, `src/`) and are re-exported here.

use std::sync::Arc;
use std::time::Duration;
use tenantry_apps::recorder::AppRecorder;
use tenantry_kafka::KafkaConfig;
use tenantry_projector::ProjectorConfig;
use tenantry_provisioner::{EffectsConfig, ProductDbTarget, ProvisionerConfig, Retention};
use tenantry_schemas::{Codec, Topics};
use tenantry_store::{ContextStore, Store};
use tokio_util::sync::CancellationToken;

pub use tenantry_integration_tests::{
    DOMAIN, bootstrap, fresh_database, fresh_topics, tenantry, tenantry_bin, wait_for,
};

/// Provisioner, projector and context API running in-process on the local
/// stack, on fresh topics and databases.
/// Apps the test stack registers, served by the recording app server.
pub const APPS: &[&str] = &["jira-slack", "tempo-timesheets"];

/// Starts the recording app server for [`APPS`] and the matching configuration.
pub async fn start_apps() -> (AppRecorder, tenantry_apps::AppsConfig) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let secrets: std::collections::HashMap<String, String> = APPS
        .iter()
        .map(|app| {
            (
                (*app).to_owned(),
                format!("secret-of-{app}-0123456789abcdef0123456789"),
            )
        })
        .collect();
    let recorder = tenantry_apps::recorder::start(listener, secrets.clone()).await;
    let config = serde_json::json!({
        "egress_allow": [recorder.addr().to_string()],
        "apps": APPS.iter().map(|app| serde_json::json!({
            "key": app, "base_url": recorder.base_url(app), "shared_secret": secrets[*app],
        })).collect::<Vec<_>>(),
    });
    let config = tenantry_apps::AppsConfig::from_json(&config.to_string()).expect("apps config");
    (recorder, config)
}

pub struct Stack {
    pub suffix: String,
    pub topics: Topics,
    pub database_url: String,
    pub api: String,
    pub store: Store,
    pub contexts: ContextStore,
    pub shutdown: CancellationToken,
    /// The apps' side of lifecycle callbacks.
    pub apps: AppRecorder,
    /// Tenant data keys (crypto-shredding).
    pub keys: Arc<tenantry_keys::LocalKeyService>,
    _keys_dir: tempfile::TempDir,
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Stack {
    pub async fn start() -> Self {
        Self::start_on(fresh_database().await).await
    }

    /// A stack on an existing database (the provisioner's store and the
    /// context store in one) and fresh topics: a store written before, e.g.
    /// by an earlier build.
    pub async fn start_on(database_url: String) -> Self {
        Self::start_with(database_url, ProductDbTarget::PostgresSchemas, 100).await
    }

    /// A stack on an existing database whose product databases go to
    /// `product_databases`, `shard_capacity` to a shard.
    pub async fn start_with(
        database_url: String,
        product_databases: ProductDbTarget,
        shard_capacity: i64,
    ) -> Self {
        let (suffix, topics) = fresh_topics().await;
        let store = Store::connect(&database_url, 4).await.expect("store");
        let contexts = ContextStore::new(store.clone());
        let codec = Arc::new(Codec::embedded());
        let shutdown = CancellationToken::new();
        let (apps, apps_config) = start_apps().await;
        let keys_dir = tempfile::tempdir().expect("keys dir");
        let keys = Arc::new(tenantry_keys::LocalKeyService::new(keys_dir.path()).expect("keys"));
        let provisioner = ProvisionerConfig {
            kafka: KafkaConfig::new(bootstrap(), "it-provisioner"),
            topics: topics.clone(),
            group_id: format!("it-provisioner-{suffix}"),
            instance_id: None,
            database_url: database_url.clone(),
            product_databases,
            effects: EffectsConfig {
                site_domain: DOMAIN.into(),
                shard_capacity,
                host_quarantine_ms: 0,
                retention: Retention::Drop,
            },
            step_attempts: 3,
            workers: 4,
            codec: codec.clone(),
            apps: apps_config,
            keys: keys.clone(),
        };
        let projector = ProjectorConfig {
            kafka: KafkaConfig::new(bootstrap(), "it-projector"),
            topics: topics.clone(),
            group_id: format!("it-projector-{suffix}"),
            instance_id: None,
            codec,
            changelog: tenantry_projector::Changelog::Publish,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = format!("http://{}", listener.local_addr().unwrap());
        let tasks = vec![
            tokio::spawn(tenantry_provisioner::run(provisioner, shutdown.clone())),
            tokio::spawn(tenantry_projector::run(
                projector,
                std::sync::Arc::new(contexts.clone()),
                shutdown.clone(),
            )),
            tokio::spawn(tenantry_context_api::serve(
                listener,
                store.clone(),
                shutdown.clone(),
            )),
        ];
        Self {
            apps,
            keys,
            _keys_dir: keys_dir,
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

    /// `tenantry publish <args>` against this stack.
    pub async fn publish(&self, args: &[&str]) {
        let mut all = vec!["publish"];
        all.extend_from_slice(args);
        self.cli(&all).await;
    }

    /// Publishes `tenant_created` (sequence 1) for `tenant`: site `site`,
    /// owner `owner`, users mostly in `country`, no residency pin.
    pub async fn create_tenant(&self, tenant: &str, site: &str, owner: &str, country: &str) {
        self.publish(&[
            "tenant_created",
            "--tenant",
            tenant,
            "--sequence",
            "1",
            "--site",
            site,
            "--owner-email",
            owner,
            "--country",
            country,
        ])
        .await;
    }

    /// Publishes `product_activated` of `product` with 5 seats for
    /// `tenant` at `sequence`.
    pub async fn activate(&self, tenant: &str, sequence: u32, product: &str) {
        self.publish(&[
            "product_activated",
            "--tenant",
            tenant,
            "--sequence",
            &sequence.to_string(),
            "--product",
            product,
            "--seats",
            "5",
        ])
        .await;
    }

    /// The single `BIGINT` a `SELECT COUNT(*) …` on the store returns.
    pub async fn count(&self, sql: &str) -> i64 {
        let (n,): (i64,) = sqlx::query_as(sql)
            .fetch_one(self.store.pool())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        n
    }

    /// Waits (60 s at most) until [`Stack::count`] of `sql` is `expected`.
    pub async fn until(&self, what: &str, sql: &str, expected: i64) {
        wait_for(Duration::from_secs(60), what, || async {
            (self.count(sql).await == expected).then_some(())
        })
        .await;
    }

    /// Runs `tenantry replay` into an empty context store and asserts that
    /// `tenant`'s replayed context equals the live one.
    pub async fn assert_replay_equals_live(&self, tenant: &str) {
        let replay_url = fresh_database().await;
        let mut env = self.env();
        env.push(("TENANTRY_CONTEXT_DATABASE_URL", replay_url.clone()));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let output = tenantry(&["replay"], &env).await;
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let tenant = tenantry_schemas::TenantId::parse(tenant).expect("tenant id");
        let replayed = ContextStore::new(Store::connect(&replay_url, 2).await.expect("store"));
        assert_eq!(
            replayed.get(&tenant).await.expect("replayed context"),
            self.contexts.get(&tenant).await.expect("live context"),
            "replay equals live for {tenant}"
        );
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
