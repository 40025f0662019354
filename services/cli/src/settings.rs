//! Shared settings: flags, then `TENANTRY_*` environment variables, then defaults.

use clap::Args;
use std::sync::Arc;
use tenantry_kafka::KafkaConfig;
use tenantry_provisioner::{EffectsConfig, ProductDbTarget, Retention};
use tenantry_registry::ConfluentRegistry;
use tenantry_schemas::{Codec, Topics};

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
    /// Extra librdkafka properties for every Kafka client, `name=value`,
    /// repeatable or comma-separated; they win over Tenantry's defaults
    /// (e.g. `linger.ms=5` for larger producer batches, at up to 5 ms more
    /// latency per hop).
    #[arg(
        long = "kafka-property",
        global = true,
        env = "TENANTRY_KAFKA_PROPERTIES",
        value_delimiter = ',',
        value_parser = parse_property
    )]
    pub kafka_properties: Vec<(String, String)>,
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
    /// Where the projector writes and the context API reads tenant
    /// contexts: `sql` (--context-database-url) or `dynamodb` (the table
    /// --dynamodb-table; region, endpoint and credentials from the standard
    /// AWS_* variables; the table is created when missing).
    #[arg(long, global = true, env = "TENANTRY_CONTEXT_STORE", default_value = "sql",
        value_parser = ["sql", "dynamodb"])]
    pub context_store: String,
    /// DynamoDB table of tenant contexts (with --context-store dynamodb).
    #[arg(
        long,
        global = true,
        env = "TENANTRY_DYNAMODB_TABLE",
        default_value = "tenantry-contexts",
        value_parser = parse_table_name
    )]
    pub dynamodb_table: String,
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
    /// Context API and sidecar: memory bound of the context cache, in MiB
    /// (about 2 KiB per tenant). The cache is filled from the changelog
    /// topic; 0 turns it off (`context-api` then reads the store on every
    /// request; `context-sidecar` needs it).
    #[arg(
        long,
        global = true,
        env = "TENANTRY_CACHE_MIB",
        default_value_t = tenantry_context_api::cache::DEFAULT_CAPACITY_BYTES / (1024 * 1024)
    )]
    pub cache_mib: u64,
    /// Context API, shared-secret mode: HS256 secret (≥ 32 bytes) that
    /// edges' bearer tokens are signed with. Exclusive with a key set. With
    /// neither, the API is unauthenticated (a warning is logged).
    #[arg(
        long,
        global = true,
        env = "TENANTRY_API_JWT_SECRET",
        hide_env_values = true
    )]
    pub api_jwt_secret: Option<String>,
    /// Context API, key-set mode: a JWK set file (RFC 7517) of the public
    /// keys service tokens are signed with; repeatable, merged with
    /// --api-jwks-url, read again every --api-jwks-refresh-secs.
    #[arg(
        long = "api-jwks-file",
        global = true,
        env = "TENANTRY_API_JWKS_FILES",
        value_delimiter = ','
    )]
    pub api_jwks_files: Vec<std::path::PathBuf>,
    /// Context API, key-set mode: a JWK set URL (https://, or http:// to a
    /// loopback address), read at start, every --api-jwks-refresh-secs, and
    /// when a token names an unknown `kid`.
    #[arg(long, global = true, env = "TENANTRY_API_JWKS_URL")]
    pub api_jwks_url: Option<String>,
    /// Context API: seconds between reads of the key set (0: never again).
    #[arg(
        long,
        global = true,
        env = "TENANTRY_API_JWKS_REFRESH_SECS",
        default_value_t = 300
    )]
    pub api_jwks_refresh_secs: u64,
    /// Context API: least seconds between two reads of the key set caused
    /// by tokens with an unknown `kid`.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_API_JWKS_MIN_REFRESH_SECS",
        default_value_t = 30
    )]
    pub api_jwks_min_refresh_secs: u64,
    /// Context API, key-set mode: which issuer may call which routes,
    /// `issuer=route[,route…]` (routes `/v1/tenants/{tenant_id}/context`,
    /// `/v1/sites/{host}/context`, or `*`); repeatable, `;`-separated in the
    /// environment. Required with a key set; with a secret it restricts the
    /// one issuer.
    #[arg(
        long = "api-allow",
        global = true,
        env = "TENANTRY_API_ALLOW",
        value_delimiter = ';'
    )]
    pub api_allow: Vec<String>,
    /// Context API: allowed `alg`s, comma-separated (default: EdDSA,ES256,RS256
    /// with a key set; HS256, the only one, with a secret).
    #[arg(
        long,
        global = true,
        env = "TENANTRY_API_JWT_ALGORITHMS",
        value_delimiter = ',',
        value_parser = parse_algorithm
    )]
    pub api_jwt_algorithms: Vec<tenantry_context_api::auth::Algorithm>,
    /// Context API, key-set mode: `asap` (a `kid` must start with
    /// `<iss>/`, so a key signs for one issuer only) or `none`.
    #[arg(long, global = true, env = "TENANTRY_API_JWT_KID_BINDING", default_value = "asap",
        value_parser = ["asap", "none"])]
    pub api_jwt_kid_binding: String,
    /// Context API, shared-secret mode: required `iss` of bearer tokens.
    #[arg(long, global = true, env = "TENANTRY_API_JWT_ISSUER", default_value = tenantry_context_api::auth::DEFAULT_ISSUER)]
    pub api_jwt_issuer: String,
    /// Context API: required `aud` of bearer tokens.
    #[arg(long, global = true, env = "TENANTRY_API_JWT_AUDIENCE", default_value = tenantry_context_api::auth::DEFAULT_AUDIENCE)]
    pub api_jwt_audience: String,
    /// Context API: clock-skew leeway on `exp`, `nbf` and `iat`, seconds.
    #[arg(long, global = true, env = "TENANTRY_API_JWT_LEEWAY_SECS", default_value_t = tenantry_context_api::auth::DEFAULT_LEEWAY_SECS)]
    pub api_jwt_leeway_secs: u64,
    /// Context API: longest token lifetime (`exp - iat`) accepted, seconds;
    /// 0: no limit.
    #[arg(long, global = true, env = "TENANTRY_API_JWT_MAX_LIFETIME_SECS", default_value_t = tenantry_context_api::auth::DEFAULT_MAX_LIFETIME_SECS)]
    pub api_jwt_max_lifetime_secs: u64,
    /// Context API: verified tokens kept in memory until their `exp`; 0: no cache.
    #[arg(long, global = true, env = "TENANTRY_API_JWT_CACHE_SIZE", default_value_t = tenantry_context_api::auth::DEFAULT_CACHE_CAPACITY)]
    pub api_jwt_cache_size: u64,
    /// Consumer group prefix: groups are <prefix>-provisioner and <prefix>-projector.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_GROUP_PREFIX",
        default_value = "tenantry"
    )]
    pub group_prefix: String,
    /// Static consumer-group membership (Kafka `group.instance.id`, KIP-345): a
    /// name for this process, stable across restarts and unique among the
    /// group's live members (e.g. a StatefulSet pod's name). Restarted under the
    /// same name within the 10 s session timeout, it gets its partitions back with
    /// no rebalance of the group. Unset: dynamic membership. Static members
    /// rebalance eagerly (roundrobin) and dynamic ones cooperatively, so give
    /// every provisioner of a group an instance id, or none.
    #[arg(long, global = true, env = "TENANTRY_INSTANCE_ID")]
    pub instance_id: Option<String>,
    /// Product databases per shard before a new shard is created.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_SHARD_CAPACITY",
        default_value_t = 500,
        value_parser = clap::value_parser!(i64).range(1..)
    )]
    pub shard_capacity: i64,
    /// What a shard is: `store` (a row of the store; product databases are
    /// schemas of the store's server) or `rds` (an RDS instance in the
    /// tenant's region, made with CreateDBInstance — Multi-AZ, encrypted —
    /// when a region's shards are full; AWS region, endpoint and
    /// credentials from the standard AWS_* variables).
    #[arg(long, global = true, env = "TENANTRY_SHARD_PROVIDER", default_value = "store",
        value_parser = ["store", "rds"])]
    pub shard_provider: String,
    /// With `--shard-provider rds`: the PostgreSQL server every shard
    /// instance's databases are created on (the data plane). Default: the
    /// store's server (`--database-url`).
    #[arg(long, global = true, env = "TENANTRY_RDS_DATA_PLANE")]
    pub rds_data_plane: Option<String>,
    /// With `--shard-provider rds`: seconds to wait for a new instance or a
    /// snapshot to become available, per attempt of its step.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_RDS_WAIT_SECS",
        default_value_t = 900,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub rds_wait_secs: u64,
    /// With `--shard-provider rds`: first part of every instance and
    /// snapshot identifier (`<prefix>-<region>-shard-<n>`), so several
    /// installations can share an AWS account.
    #[arg(
        long,
        global = true,
        env = "TENANTRY_RDS_PREFIX",
        default_value = "tenantry",
        value_parser = parse_rds_prefix
    )]
    pub rds_prefix: String,
    /// Seconds a destroyed tenant's site host stays unusable (default 30 days).
    #[arg(
        long,
        global = true,
        env = "TENANTRY_HOST_QUARANTINE_SECS",
        default_value_t = 2_592_000,
        value_parser = clap::value_parser!(i64).range(0..)
    )]
    pub host_quarantine_secs: i64,
    /// Keep a deactivated product's database (renamed archived_<name>) instead of dropping it after its snapshot.
    #[arg(long, global = true, env = "TENANTRY_ARCHIVE_DATABASES")]
    pub archive_databases: bool,
    /// JSON file of registered apps and the egress allow-list for lifecycle callbacks
    /// ({"egress_allow": ["host:port"], "apps": [{"key", "base_url", "shared_secret"}]}).
    /// Without it no app is registered, and activating a product with apps fails its step 7.
    #[arg(long, global = true, env = "TENANTRY_APPS_CONFIG")]
    pub apps_config: Option<std::path::PathBuf>,
    /// Directory of the local tenant data keys (development key service; production uses KMS).
    #[arg(long, global = true, env = "TENANTRY_KEYS_DIR")]
    pub keys_dir: Option<std::path::PathBuf>,
    /// Where tenant data keys live: `local` (key files in --keys-dir) or `kms`
    /// (AWS KMS, one key per tenant; region, endpoint and credentials from the
    /// standard AWS_* variables).
    #[arg(long, global = true, env = "TENANTRY_KEY_SERVICE", default_value = "local",
        value_parser = ["local", "kms"])]
    pub key_service: String,
    /// Provisioner workers: tenants handled in parallel (a tenant's events stay in order on one worker).
    #[arg(long, global = true, env = "TENANTRY_WORKERS", default_value_t = 16,
        value_parser = clap::builder::ValueParser::new(clap::builder::TypedValueParser::map(clap::value_parser!(u16).range(1..=1024), usize::from)))]
    pub workers: usize,
    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `tenantry_provisioner=debug`.
    #[arg(long, global = true, env = "TENANTRY_LOG")]
    pub log: Option<String>,
    /// Metrics and traces.
    #[command(flatten)]
    pub telemetry: crate::telemetry_args::TelemetryArgs,
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
        let mut config = KafkaConfig::new(&self.bootstrap, format!("tenantry-{role}"));
        config.overrides.clone_from(&self.kafka_properties);
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
        use tenantry_context_api::auth::{
            AuthConfig, JwksConfig, Keys, KidBinding, RouteAllowList,
        };
        let key_set = !self.api_jwks_files.is_empty() || self.api_jwks_url.is_some();
        let keys = match (&self.api_jwt_secret, key_set) {
            (Some(_), true) => anyhow::bail!(
                "api_jwt_secret: a shared secret and a key set (--api-jwks-file/--api-jwks-url) \
                 exclude each other; choose one"
            ),
            (Some(secret), false) => Keys::SharedSecret(secret.as_bytes().to_vec()),
            (None, true) => {
                let mut jwks =
                    JwksConfig::new(self.api_jwks_files.clone(), self.api_jwks_url.clone());
                jwks.refresh_interval = std::time::Duration::from_secs(self.api_jwks_refresh_secs);
                jwks.min_refresh_interval =
                    std::time::Duration::from_secs(self.api_jwks_min_refresh_secs);
                Keys::KeySet(jwks)
            }
            (None, false) if !self.api_allow.is_empty() => anyhow::bail!(
                "api_allow: set --api-jwks-file, --api-jwks-url or --api-jwt-secret too; \
                 without them the API is unauthenticated"
            ),
            (None, false) => return Ok(None),
        };
        let allow = if self.api_allow.is_empty() {
            None
        } else {
            Some(
                RouteAllowList::parse(self.api_allow.iter().map(String::as_str))
                    .map_err(|e| anyhow::anyhow!("api_allow: {e}"))?,
            )
        };
        let config = AuthConfig {
            keys,
            issuer: self.api_jwt_issuer.clone(),
            audience: self.api_jwt_audience.clone(),
            algorithms: (!self.api_jwt_algorithms.is_empty())
                .then(|| self.api_jwt_algorithms.clone()),
            leeway_secs: self.api_jwt_leeway_secs,
            max_lifetime_secs: self.api_jwt_max_lifetime_secs,
            allow,
            kid_binding: if self.api_jwt_kid_binding == "none" {
                KidBinding::None
            } else {
                KidBinding::Asap
            },
            cache_capacity: self.api_jwt_cache_size,
        };
        Ok(Some(
            tenantry_context_api::ApiAuth::from_config(config).await?,
        ))
    }

    /// The context store URL.
    pub fn context_database_url(&self) -> &str {
        self.context_database_url
            .as_deref()
            .unwrap_or(&self.database_url)
    }

    /// Where product databases go: schemas of the store's server, or RDS
    /// shards (`--shard-provider rds`).
    ///
    /// Errors: `--shard-provider rds` without the AWS_* variables.
    pub fn product_databases(&self) -> anyhow::Result<ProductDbTarget> {
        if self.shard_provider != "rds" {
            return Ok(ProductDbTarget::PostgresSchemas);
        }
        let mut rds = tenantry_rds::RdsConfig::from_env().map_err(|missing| {
            anyhow::anyhow!(
                "shard_provider: rds needs the environment variable {}",
                missing.0
            )
        })?;
        rds.prefix.clone_from(&self.rds_prefix);
        rds.available_timeout = std::time::Duration::from_secs(self.rds_wait_secs);
        rds.poll_interval = rds.poll_interval.min(rds.available_timeout / 10);
        Ok(ProductDbTarget::Rds {
            control_plane: Arc::new(tenantry_rds::RdsShards::new(rds)),
            data_plane: self
                .rds_data_plane
                .clone()
                .unwrap_or_else(|| self.database_url.clone()),
        })
    }

    /// Step adapter settings.
    pub fn effects(&self) -> EffectsConfig {
        EffectsConfig {
            site_domain: self.site_domain.clone(),
            shard_capacity: self.shard_capacity,
            host_quarantine_ms: self.host_quarantine_secs.saturating_mul(1000),
            retention: if self.archive_databases {
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
        match &self.apps_config {
            None => Ok(tenantry_apps::AppsConfig::empty()),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    anyhow::anyhow!("apps_config: cannot read {}: {e}", path.display())
                })?;
                Ok(tenantry_apps::AppsConfig::from_json(&text)
                    .map_err(|e| anyhow::anyhow!("apps_config: {e}"))?)
            }
        }
    }

    /// The tenant key service: AWS KMS with `--key-service kms`, else local
    /// key files in `--keys-dir` (default `<temp dir>/tenantry-keys/<id of
    /// --database-url>`).
    pub fn keys(&self) -> anyhow::Result<Arc<dyn tenantry_keys::KeyService>> {
        if self.key_service == "kms" {
            let service =
                tenantry_keys::KmsKeyService::from_env(tenantry_keys::KmsSettings::default())
                    .map_err(|missing| {
                        anyhow::anyhow!(
                            "key_service: kms needs the environment variable {}",
                            missing.0
                        )
                    })?;
            return Ok(Arc::new(service));
        }
        // Keys belong with the data they protect: by default one directory
        // per saga/event store, so two stores never share tenant keys.
        let dir = self.keys_dir.clone().unwrap_or_else(|| {
            let store =
                uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, self.database_url.as_bytes());
            std::env::temp_dir()
                .join("tenantry-keys")
                .join(store.simple().to_string())
        });
        let service = tenantry_keys::LocalKeyService::new(&dir)
            .map_err(|e| anyhow::anyhow!("keys_dir: cannot use {}: {e}", dir.display()))?;
        Ok(Arc::new(service))
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
        // A tool's failure ends in one error line with the reason; the
        // Kafka client's own connection logs would only repeat it.
        "warn,librdkafka=off,tenantry_kafka::config=error"
    } else {
        "info,rdkafka=warn,sqlx=warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_new(settings.log.as_deref().unwrap_or(default))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only for a terminal: log files and CI output stay plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// A JOSE algorithm name (`EdDSA`, `ES256`, `RS256`, `HS256`; RFC 7518 §3.1).
pub fn parse_algorithm(raw: &str) -> Result<tenantry_context_api::auth::Algorithm, String> {
    raw.trim()
        .parse()
        .map_err(|_| format!("unknown JWT algorithm {raw:?} (EdDSA, ES256, RS256, HS256)"))
}

/// `name=value` of `--kafka-property`.
/// A DynamoDB table name: 3 to 255 of `A-Z a-z 0-9 _ - .` (DynamoDB
/// developer guide, "Naming rules").
fn parse_table_name(raw: &str) -> Result<String, String> {
    let valid = (3..=255).contains(&raw.len())
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if valid {
        Ok(raw.to_owned())
    } else {
        Err("must be 3 to 255 characters of A-Z a-z 0-9 _ - . (DynamoDB table naming rules)".into())
    }
}

/// Longest `--rds-prefix`: `<prefix>-<region>-shard-<n>` must fit the
/// 63 characters of a DB instance identifier for up to a million shards a
/// region (`-xx-shard-999999` is 16 characters).
const MAX_RDS_PREFIX: usize = 63 - 16;

/// An RDS identifier prefix: a lower-case letter, then lower-case letters,
/// digits and single hyphens, not ending in a hyphen, at most
/// [`MAX_RDS_PREFIX`] characters (RDS identifier rules), so identifiers are
/// never rewritten or cut into one another.
fn parse_rds_prefix(raw: &str) -> Result<String, String> {
    let valid = raw.len() <= MAX_RDS_PREFIX
        && raw.starts_with(|c: char| c.is_ascii_lowercase())
        && !raw.ends_with('-')
        && !raw.contains("--")
        && raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        Ok(raw.to_owned())
    } else {
        Err(format!(
            "must start with a-z and hold only a-z, 0-9 and single hyphens, not ending in one, \
             at most {MAX_RDS_PREFIX} characters (RDS identifier rules)"
        ))
    }
}

fn parse_property(raw: &str) -> Result<(String, String), String> {
    match raw.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.trim().to_owned()))
        }
        _ => Err(format!(
            "expected name=value (a librdkafka property such as fetch.wait.max.ms=100), got {raw:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_properties_are_name_value_pairs_and_anything_else_is_refused() {
        assert_eq!(
            parse_property(" fetch.wait.max.ms = 100 "),
            Ok(("fetch.wait.max.ms".to_owned(), "100".to_owned()))
        );
        let error = parse_property("fetch.wait.max.ms").unwrap_err();
        assert!(error.contains("expected name=value"), "{error}");
        assert!(parse_property("=5").is_err());
    }

    #[test]
    fn rds_prefixes_follow_the_identifier_rules() {
        for good in [
            "tenantry",
            "nc1",
            "a",
            "prod-eu2",
            &"p".repeat(MAX_RDS_PREFIX),
        ] {
            assert_eq!(parse_rds_prefix(good).as_deref(), Ok(good), "{good}");
        }
        for bad in [
            "",
            "1abc",
            "Bad_Prefix!",
            "UPPER",
            "ends-",
            "two--hyphens",
            &"p".repeat(MAX_RDS_PREFIX + 1),
        ] {
            let error = parse_rds_prefix(bad).unwrap_err();
            assert!(error.contains("must start with a-z"), "{bad}: {error}");
        }
    }

    #[test]
    fn dynamodb_table_names_follow_the_naming_rules() {
        for good in ["tenantry-contexts", "a.b_c-1", &"t".repeat(255)] {
            assert!(parse_table_name(good).is_ok(), "{good}");
        }
        for bad in ["x", "ab", "bad table!", &"t".repeat(256)] {
            assert!(parse_table_name(bad).is_err(), "{bad}");
        }
    }
}
