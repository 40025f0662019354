//! Shared set-up: a recorder playing some apps, and a client configured for it.

use std::collections::HashMap;
use std::time::Duration;
use tenantry_apps::recorder::{self, AppRecorder};
use tenantry_apps::{AppClient, AppRegistration, AppsConfig, LifecycleCall, SharedSecret};
use tenantry_schemas::{AppKey, ProductKey, TenantId};
use tokio::net::TcpListener;

/// A per-app secret of at least 32 bytes (RFC 7518 §3.2).
pub fn secret_for(app: &str) -> String {
    format!("{app}-shared-secret-0123456789abcdef")
}

/// A recorder on a random loopback port that knows `apps`.
pub async fn recorder(apps: &[&str]) -> AppRecorder {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let secrets: HashMap<String, String> = apps
        .iter()
        .map(|app| ((*app).to_owned(), secret_for(app)))
        .collect();
    recorder::start(listener, secrets).await
}

/// `apps` registered at `base` (the recorder's URL unless overridden), the
/// recorder's address allow-listed.
pub fn config(rec: &AppRecorder, apps: &[&str]) -> AppsConfig {
    AppsConfig {
        apps: apps
            .iter()
            .map(|app| registration(app, &rec.base_url(app)))
            .collect(),
        egress_allow: vec![rec.addr().to_string()],
        timeout: Duration::from_secs(5),
        ..AppsConfig::empty()
    }
}

/// One registration with the test secret of `app`.
pub fn registration(app: &str, base_url: &str) -> AppRegistration {
    AppRegistration {
        key: AppKey::parse(app).unwrap(),
        base_url: base_url.parse().unwrap(),
        shared_secret: SharedSecret::new(secret_for(app)),
    }
}

/// A client for `config`.
pub fn client(config: AppsConfig) -> AppClient {
    AppClient::new(config).unwrap()
}

/// A call of `app` for tenant `t1`, product `jira`.
pub fn call(app: &str, idempotency_key: &str) -> LifecycleCall {
    LifecycleCall {
        app: AppKey::parse(app).unwrap(),
        tenant_id: TenantId::parse("t1").unwrap(),
        product: ProductKey::parse("jira").unwrap(),
        site_host: "acme.tenantry.test".into(),
        idempotency_key: idempotency_key.into(),
    }
}
