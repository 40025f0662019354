//! Settings: flags, then `TENANTRY_*` environment variables, then defaults.
//!
//! Flags come in groups ([`groups`]): the Kafka broker, the stores, the
//! context API's listener, cache and authentication, the saga steps,
//! metrics and traces. Each command takes only the groups it uses ([`flags`]): its
//! `--help` lists them under a heading per group, and a flag of another
//! command (`publish --api-jwt-secret`) is a usage error. A command's groups
//! are gathered into one [`Settings`]; groups the command does not take hold
//! their built-in defaults (never a `TENANTRY_*` variable) and are not read
//! by that command.

pub mod flags;
pub mod groups;
mod parse;

pub use groups::{
    AdminArgs, ApiAuthArgs, BrokerArgs, CacheArgs, ConsumerArgs, ContextStoreArgs, ListenArgs,
    SagaArgs, SchemaArgs, StoreArgs,
};
pub use parse::parse_algorithm;

use crate::telemetry_args::{MetricsArgs, TraceArgs, TraceSelection};
use clap::{Args, FromArgMatches};
use std::sync::Arc;
use tenantry_kafka::KafkaConfig;
use tenantry_provisioner::{EffectsConfig, ProductDbTarget, Retention};
use tenantry_registry::ConfluentRegistry;
use tenantry_schemas::{Codec, Topics};

/// One command's settings: the groups it took from its flags and the
/// environment, the built-in defaults for the others.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Kafka broker, client properties and topic names.
    pub broker: BrokerArgs,
    /// Schema registry.
    pub schema: SchemaArgs,
    /// Consumer-group membership.
    pub consumer: ConsumerArgs,
    /// The saga and event store.
    pub store: StoreArgs,
    /// The tenant context store.
    pub contexts: ContextStoreArgs,
    /// HTTP listen address.
    pub listen: ListenArgs,
    /// The context cache.
    pub cache: CacheArgs,
    /// Bearer-token verification.
    pub auth: ApiAuthArgs,
    /// `tenantry admin`'s token audience.
    pub admin: AdminArgs,
    /// What saga steps do.
    pub saga: SagaArgs,
    /// Where metrics are served.
    pub metrics: MetricsArgs,
    /// Where traces are exported.
    pub traces: TraceArgs,
    /// `--log`, the global log filter (passed on to the services `bench` starts).
    pub log: Option<String>,
}

impl Settings {
    /// A command's groups with the global `--log` filter.
    pub fn of(flags: impl Into<Settings>, log: Option<&str>) -> Self {
        Self {
            log: log.map(str::to_owned),
            ..flags.into()
        }
    }
}

impl Default for Settings {
    /// Every group at its built-in defaults.
    fn default() -> Self {
        Self {
            broker: defaults(),
            schema: defaults(),
            consumer: defaults(),
            store: defaults(),
            contexts: defaults(),
            listen: defaults(),
            cache: defaults(),
            auth: defaults(),
            admin: defaults(),
            saga: defaults(),
            metrics: defaults(),
            traces: defaults(),
            log: None,
        }
    }
}

/// A flag group at its declared defaults, read from an empty command line
/// with every argument's environment variable removed: a group a command
/// does not take must not pick up a `TENANTRY_*` variable meant for another.
fn defaults<T: Args + FromArgMatches>() -> T {
    let mut command = T::augment_args(clap::Command::new("defaults"));
    let ids: Vec<clap::Id> = command
        .get_arguments()
        .map(|arg| arg.get_id().clone())
        .collect();
    for id in ids {
        command = command.mut_arg(id, |arg| arg.env(None));
    }
    let matches = command
        .try_get_matches_from(["defaults"])
        .expect("every flag of a group has a default or is optional");
    T::from_arg_matches(&matches).expect("defaults parse into their own group")
}

impl Settings {
    /// Topic names, with the suffix if one is set.
    pub fn topics(&self) -> Topics {
        match &self.broker.topic_suffix {
            Some(suffix) if !suffix.is_empty() => Topics::with_suffix(suffix),
            _ => Topics::default(),
        }
    }

    /// An error context naming the broker flag, its variable and its value:
    /// `--bootstrap (TENANTRY_BOOTSTRAP): cannot create topics on …`.
    pub fn at_bootstrap(&self, failed: &str) -> String {
        format!(
            "--bootstrap (TENANTRY_BOOTSTRAP): {failed} on {}",
            self.broker.bootstrap
        )
    }

    /// Kafka settings for one role.
    pub fn kafka(&self, role: &str) -> KafkaConfig {
        let mut config = KafkaConfig::new(&self.broker.bootstrap, format!("tenantry-{role}"));
        config.overrides.clone_from(&self.broker.kafka_properties);
        config
    }

    /// Bearer-token verification for the context API: the key-set mode
    /// with `--api-jwks-file`/`--api-jwks-url`, the shared-secret mode with
    /// `--api-jwt-secret`, `None` with neither. A key set is read here.
    ///
    /// # Errors
    /// Both modes at once; a setting the mode cannot use (named); a key
    /// set that cannot be read or has no usable key.
    pub async fn api_auth(&self) -> anyhow::Result<Option<tenantry_context_api::ApiAuth>> {
        self.auth_for(&self.auth.api_jwt_audience).await
    }

    /// [`Settings::api_auth`] for `tenantry admin`: the same keys, issuer
    /// and allow-list, and tokens whose `aud` is `--admin-jwt-audience`
    /// (not the context API's, so an edge's read token cannot act).
    ///
    /// # Errors
    /// As [`Settings::api_auth`]; an empty `--admin-jwt-audience`.
    pub async fn admin_auth(&self) -> anyhow::Result<Option<tenantry_context_api::ApiAuth>> {
        if self.admin.admin_jwt_audience.trim().is_empty() {
            anyhow::bail!("--admin-jwt-audience (TENANTRY_ADMIN_JWT_AUDIENCE): must not be empty");
        }
        self.auth_for(&self.admin.admin_jwt_audience).await
    }

    /// Bearer-token verification with `audience` as the required `aud`.
    async fn auth_for(
        &self,
        audience: &str,
    ) -> anyhow::Result<Option<tenantry_context_api::ApiAuth>> {
        use tenantry_context_api::auth::{
            AuthConfig, JwksConfig, Keys, KidBinding, RouteAllowList,
        };
        let key_set = !self.auth.api_jwks_files.is_empty() || self.auth.api_jwks_url.is_some();
        let keys = match (&self.auth.api_jwt_secret, key_set) {
            (Some(_), true) => anyhow::bail!(
                "--api-jwt-secret (TENANTRY_API_JWT_SECRET): a shared secret and a key set (--api-jwks-file/--api-jwks-url) \
                 exclude each other; choose one"
            ),
            (Some(secret), false) => Keys::SharedSecret(secret.as_bytes().to_vec()),
            (None, true) => {
                let mut jwks = JwksConfig::new(
                    self.auth.api_jwks_files.clone(),
                    self.auth.api_jwks_url.clone(),
                );
                jwks.refresh_interval =
                    std::time::Duration::from_secs(self.auth.api_jwks_refresh_secs);
                jwks.min_refresh_interval =
                    std::time::Duration::from_secs(self.auth.api_jwks_min_refresh_secs);
                Keys::KeySet(jwks)
            }
            (None, false) if !self.auth.api_allow.is_empty() => anyhow::bail!(
                "--api-allow (TENANTRY_API_ALLOW): set --api-jwks-file, --api-jwks-url or --api-jwt-secret too; \
                 without them the API is unauthenticated"
            ),
            (None, false) => return Ok(None),
        };
        let allow = if self.auth.api_allow.is_empty() {
            None
        } else {
            Some(
                RouteAllowList::parse(self.auth.api_allow.iter().map(String::as_str))
                    .map_err(|e| anyhow::anyhow!("--api-allow (TENANTRY_API_ALLOW): {e}"))?,
            )
        };
        let config = AuthConfig {
            keys,
            issuer: self.auth.api_jwt_issuer.clone(),
            audience: audience.to_owned(),
            algorithms: (!self.auth.api_jwt_algorithms.is_empty())
                .then(|| self.auth.api_jwt_algorithms.clone()),
            leeway_secs: self.auth.api_jwt_leeway_secs,
            max_lifetime_secs: self.auth.api_jwt_max_lifetime_secs,
            allow,
            kid_binding: if self.auth.api_jwt_kid_binding == "none" {
                KidBinding::None
            } else {
                KidBinding::Asap
            },
            cache_capacity: self.auth.api_jwt_cache_size,
        };
        let auth = tenantry_context_api::ApiAuth::from_config(config)
            .await
            .map_err(|error| anyhow::anyhow!(name_the_flag(&error.to_string())))?;
        Ok(Some(auth))
    }

    /// The context store URL.
    pub fn context_database_url(&self) -> &str {
        self.contexts
            .context_database_url
            .as_deref()
            .unwrap_or(&self.store.database_url)
    }

    /// Where product databases go: schemas of the store's server, or RDS
    /// shards (`--shard-provider rds`).
    ///
    /// Errors: `--shard-provider rds` without the AWS_* variables.
    pub fn product_databases(&self) -> anyhow::Result<ProductDbTarget> {
        if self.saga.shard_provider != "rds" {
            return Ok(ProductDbTarget::PostgresSchemas);
        }
        let mut rds = tenantry_rds::RdsConfig::from_env().map_err(|missing| {
            anyhow::anyhow!(
                "--shard-provider rds (TENANTRY_SHARD_PROVIDER) needs the environment variable {}",
                missing.0
            )
        })?;
        rds.prefix.clone_from(&self.saga.rds_prefix);
        rds.available_timeout = std::time::Duration::from_secs(self.saga.rds_wait_secs);
        rds.poll_interval = rds.poll_interval.min(rds.available_timeout / 10);
        Ok(ProductDbTarget::Rds {
            control_plane: Arc::new(tenantry_rds::RdsShards::new(rds)),
            data_plane: self
                .saga
                .rds_data_plane
                .clone()
                .unwrap_or_else(|| self.store.database_url.clone()),
        })
    }

    /// Step adapter settings.
    pub fn effects(&self) -> EffectsConfig {
        EffectsConfig {
            site_domain: self.saga.site_domain.clone(),
            shard_capacity: self.saga.shard_capacity,
            host_quarantine_ms: self.saga.host_quarantine_secs.saturating_mul(1000),
            retention: if self.saga.archive_databases {
                Retention::Archive
            } else {
                Retention::Drop
            },
        }
    }

    /// Registered apps, from `--apps-config` (empty without it).
    ///
    /// Errors: the file cannot be read, or a field is invalid (named in the error).
    pub fn apps(&self) -> anyhow::Result<tenantry_apps::AppsConfig> {
        match &self.saga.apps_config {
            None => Ok(tenantry_apps::AppsConfig::empty()),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    anyhow::anyhow!(
                        "--apps-config (TENANTRY_APPS_CONFIG): cannot read {}: {e}",
                        path.display()
                    )
                })?;
                Ok(tenantry_apps::AppsConfig::from_json(&text)
                    .map_err(|e| anyhow::anyhow!("--apps-config (TENANTRY_APPS_CONFIG): {e}"))?)
            }
        }
    }

    /// The tenant key service: AWS KMS with `--key-service kms`, else local
    /// key files in `--keys-dir` (default `<temp dir>/tenantry-keys/<id of
    /// --database-url>`).
    pub fn keys(&self) -> anyhow::Result<Arc<dyn tenantry_keys::KeyService>> {
        if self.saga.key_service == "kms" {
            let service = tenantry_keys::KmsKeyService::from_env(
                tenantry_keys::KmsSettings::default(),
            )
            .map_err(|missing| {
                anyhow::anyhow!(
                    "--key-service kms (TENANTRY_KEY_SERVICE) needs the environment variable {}",
                    missing.0
                )
            })?;
            return Ok(Arc::new(service));
        }
        // Keys belong with the data they protect: by default one directory
        // per saga/event store, so two stores never share tenant keys.
        let dir = self.saga.keys_dir.clone().unwrap_or_else(|| {
            let store = uuid::Uuid::new_v5(
                &uuid::Uuid::NAMESPACE_URL,
                self.store.database_url.as_bytes(),
            );
            std::env::temp_dir()
                .join("tenantry-keys")
                .join(store.simple().to_string())
        });
        let service = tenantry_keys::LocalKeyService::new(&dir).map_err(|e| {
            anyhow::anyhow!(
                "--keys-dir (TENANTRY_KEYS_DIR): cannot use {}: {e}",
                dir.display()
            )
        })?;
        Ok(Arc::new(service))
    }

    /// The codec: Confluent registry when configured, else the embedded one.
    pub fn codec(&self) -> anyhow::Result<Arc<Codec>> {
        Ok(Arc::new(match &self.schema.schema_registry_url {
            Some(url) => Codec::new(Arc::new(ConfluentRegistry::new(url)?)),
            None => Codec::embedded(),
        }))
    }
}

/// An error of the auth configuration names its field (`api_jwt_secret: …`,
/// the [`tenantry_context_api::auth::AuthConfig`] field); on the command
/// line that is a flag and its variable (`--api-jwt-secret
/// (TENANTRY_API_JWT_SECRET): …`). Anything else is returned as it is.
fn name_the_flag(message: &str) -> String {
    let Some((field, reason)) = message.split_once(": ") else {
        return message.to_owned();
    };
    if !field.starts_with("api_") || !field.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
        return message.to_owned();
    }
    format!(
        "--{} (TENANTRY_{}): {reason}",
        field.replace('_', "-"),
        field.to_ascii_uppercase()
    )
}

/// A `--log` value: tracing's `EnvFilter` syntax (`info`,
/// `tenantry_provisioner=debug,warn`), checked when parsed so a typo is a
/// usage error instead of a filter silently replaced by the default.
pub fn parse_log_filter(raw: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::try_new(raw)
        .map(|_| raw.to_owned())
        .map_err(|error| {
            format!("not a log filter (e.g. `info` or `tenantry_provisioner=debug`): {error}")
        })
}

/// Logs to stderr. `quiet` commands (CLI tools, dev) default to warnings only.
/// With an OTLP endpoint in `traces`, also exports spans; the returned guard
/// exports what is still buffered when dropped: keep it until the command ends.
pub fn init_tracing(
    log: Option<&str>,
    quiet: bool,
    traces: &TraceSelection,
) -> Option<tenantry_telemetry::trace::TraceGuard> {
    let default = if quiet {
        // A tool's failure ends in one error line with the reason; the
        // Kafka client's own connection logs would only repeat it.
        "warn,librdkafka=off,tenantry_kafka::config=error"
    } else {
        "info,rdkafka=warn,sqlx=warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_new(log.unwrap_or(default))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    use std::io::IsTerminal;
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let built = tenantry_telemetry::trace::layer(traces.endpoint.as_ref(), traces.service);
    let Ok(Some(otel)) = built else {
        // No OTLP endpoint: one global filter, as before traces existed, so
        // no span or event costs more than it did.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            // Colour only for a terminal: log files and CI output stay plain text.
            .with_ansi(std::io::stderr().is_terminal())
            // A write to stderr that fails (a closed pipe: `… 2>&1 | head`) is
            // dropped. Reporting it would `eprintln!`, which panics on that same
            // stderr, in whichever task logged — the signal handler's panic left
            // a service that never shut down.
            .log_internal_errors(false)
            .try_init();
        if let Err(error) = built {
            tracing::warn!(%error, "Traces are not exported.");
        }
        return None;
    };
    // With an endpoint the log filter applies to the log lines only; the
    // trace layer has its own (Tenantry's DEBUG spans included).
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .log_internal_errors(false)
        .with_filter(filter);
    let _ = tracing_subscriber::registry()
        .with(fmt)
        .with(otel.layer)
        .try_init();
    Some(otel.guard)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A group whose flag reads `PATH`, set in every test process.
    #[derive(Debug, Clone, Args)]
    struct FromPath {
        #[arg(long, env = "PATH", default_value = "declared")]
        value: String,
    }

    #[test]
    fn an_auth_error_names_the_flag_and_its_variable() {
        assert_eq!(
            name_the_flag("api_jwt_secret: must be at least 32 bytes"),
            "--api-jwt-secret (TENANTRY_API_JWT_SECRET): must be at least 32 bytes"
        );
        assert_eq!(name_the_flag("keys: bad: x"), "keys: bad: x");
        assert_eq!(name_the_flag("no field here"), "no field here");
    }

    #[test]
    fn a_log_filter_is_checked_when_parsed() {
        assert!(parse_log_filter("info,tenantry_provisioner=debug").is_ok());
        let error = parse_log_filter("[[[").unwrap_err();
        assert!(error.contains("not a log filter"), "{error}");
    }

    #[test]
    fn a_group_a_command_does_not_take_keeps_its_default_whatever_the_environment() {
        assert!(std::env::var_os("PATH").is_some());
        assert_eq!(defaults::<FromPath>().value, "declared");
        let settings = Settings::default();
        assert_eq!(settings.saga.workers, 16);
        assert_eq!(settings.cache.cache_mib, 512);
    }
}
