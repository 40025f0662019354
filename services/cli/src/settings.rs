//! Shared settings: flags, then `TENANTRY_*` environment variables, then defaults.

use clap::Args;
use std::sync::Arc;
use tenantry_kafka::KafkaConfig;
use tenantry_schemas::{Codec, ConfluentRegistry, Topics};
use tenantry_store::EffectsConfig;

/// Settings every command shares.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Kafka bootstrap servers (host:port, comma-separated).
    #[arg(
        long,
        global = true,
        env = "TENANTRY_BOOTSTRAP",
        default_value = "127.0.0.1:9092"
    )]
    pub bootstrap: String,
    /// Saga and event store (postgres://… or sqlite://…).
    #[arg(
        long,
        global = true,
        env = "TENANTRY_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/tenantry"
    )]
    pub database_url: String,
    /// Tenant context store; defaults to --database-url.
    #[arg(long, global = true, env = "TENANTRY_CONTEXT_DATABASE_URL")]
    pub context_database_url: Option<String>,
    /// Appended to every topic name (isolated test runs): commerce.lifecycle.v1-<suffix>.
    #[arg(long, global = true, env = "TENANTRY_TOPIC_SUFFIX")]
    pub topic_suffix: Option<String>,
    /// Domain of site hosts: site `acme` → `acme.<domain>` (default: the RFC 2606 `.test` TLD).
    #[arg(
        long,
        global = true,
        env = "TENANTRY_SITE_DOMAIN",
        default_value = "tenantry.test"
    )]
    pub site_domain: String,
    /// Confluent-compatible schema registry; without it the registry embedded in the binary is used.
    #[arg(long, global = true, env = "TENANTRY_SCHEMA_REGISTRY_URL")]
    pub schema_registry_url: Option<String>,
    /// Context API listen address.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_LISTEN",
        default_value = "127.0.0.1:8080"
    )]
    pub listen: String,
    /// Consumer group prefix: groups are <prefix>-provisioner and <prefix>-projector.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_GROUP_PREFIX",
        default_value = "tenantry"
    )]
    pub group_prefix: String,
    /// Product databases per shard before a new shard is created.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_SHARD_CAPACITY",
        default_value_t = 500
    )]
    pub shard_capacity: i64,
    /// Provisioner workers: tenants handled in parallel (a tenant's events stay in order on one worker).
    #[arg(long, global = true, env = "TENANTRY_WORKERS", default_value_t = 16)]
    pub workers: usize,
    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `tenantry_provisioner=debug`.
    #[arg(long, global = true, env = "TENANTRY_LOG")]
    pub log: Option<String>,
}

impl Settings {
    /// Topic names, with the suffix if one is set.
    pub fn topics(&self) -> Topics {
        match &self.topic_suffix {
            Some(suffix) if !suffix.is_empty() => Topics::with_suffix(suffix),
            _ => Topics::default(),
        }
    }

    /// Kafka settings for one role.
    pub fn kafka(&self, role: &str) -> KafkaConfig {
        KafkaConfig::new(&self.bootstrap, format!("tenantry-{role}"))
    }

    /// The context store URL.
    pub fn context_database_url(&self) -> &str {
        self.context_database_url
            .as_deref()
            .unwrap_or(&self.database_url)
    }

    /// Step adapter settings.
    pub fn effects(&self) -> EffectsConfig {
        EffectsConfig {
            site_domain: self.site_domain.clone(),
            shard_capacity: self.shard_capacity,
        }
    }

    /// The codec: Confluent registry when configured, else the embedded one.
    pub fn codec(&self) -> anyhow::Result<Arc<Codec>> {
        Ok(Arc::new(match &self.schema_registry_url {
            Some(url) => Codec::new(Arc::new(ConfluentRegistry::new(url)?)),
            None => Codec::embedded(),
        }))
    }
}

/// Logs to stderr. `quiet` commands (CLI tools, dev) default to warnings only.
pub fn init_tracing(settings: &Settings, quiet: bool) {
    let default = if quiet {
        "warn"
    } else {
        "info,rdkafka=warn,sqlx=warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_new(settings.log.as_deref().unwrap_or(default))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
