//! The flag groups. Each command takes the groups it uses
//! ([`super::flags`]), so `--help` lists only what applies and a flag of
//! another command is refused.

use super::parse::{parse_algorithm, parse_property, parse_rds_prefix, parse_table_name};
use clap::Args;

/// Kafka: where the broker is, how clients talk to it, and topic names.
#[derive(Debug, Clone, Args)]
pub struct BrokerArgs {
    /// Kafka bootstrap servers (host:port, comma-separated).
    #[arg(long, env = "TENANTRY_BOOTSTRAP", default_value = "127.0.0.1:9092")]
    pub bootstrap: String,
    /// Extra librdkafka properties for every Kafka client, `name=value`,
    /// repeatable or comma-separated; they win over Tenantry's defaults
    /// (e.g. `linger.ms=5` for larger producer batches, at up to 5 ms more
    /// latency per hop).
    #[arg(
        long = "kafka-property",
        env = "TENANTRY_KAFKA_PROPERTIES",
        value_delimiter = ',',
        value_parser = parse_property
    )]
    pub kafka_properties: Vec<(String, String)>,
    /// Appended to every topic name (isolated test runs): commerce.lifecycle.v1-<suffix>.
    #[arg(long, env = "TENANTRY_TOPIC_SUFFIX")]
    pub topic_suffix: Option<String>,
}

/// How records are encoded: the schema registry.
#[derive(Debug, Clone, Args)]
pub struct SchemaArgs {
    /// Confluent-compatible schema registry; without it the registry embedded in the binary is used.
    #[arg(long, env = "TENANTRY_SCHEMA_REGISTRY_URL")]
    pub schema_registry_url: Option<String>,
}

/// Consumer-group membership of a long-running consumer.
#[derive(Debug, Clone, Args)]
pub struct ConsumerArgs {
    /// Consumer group prefix: groups are <prefix>-provisioner and <prefix>-projector.
    #[arg(long, env = "TENANTRY_GROUP_PREFIX", default_value = "tenantry")]
    pub group_prefix: String,
    /// Static consumer-group membership (Kafka `group.instance.id`, KIP-345): a
    /// name for this process, stable across restarts and unique among the
    /// group's live members (e.g. a StatefulSet pod's name). Restarted under the
    /// same name within the 10 s session timeout, it gets its partitions back with
    /// no rebalance of the group. Unset: dynamic membership. Static members
    /// rebalance eagerly (roundrobin) and dynamic ones cooperatively, so give
    /// every provisioner of a group an instance id, or none.
    #[arg(long, env = "TENANTRY_INSTANCE_ID")]
    pub instance_id: Option<String>,
}

/// The saga and event store.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Saga and event store (postgres://… or sqlite://…); also the context
    /// store when --context-database-url is not set.
    #[arg(
        long,
        env = "TENANTRY_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/tenantry"
    )]
    pub database_url: String,
}

/// The tenant context store.
#[derive(Debug, Clone, Args)]
pub struct ContextStoreArgs {
    /// Tenant context store; defaults to --database-url.
    #[arg(long, env = "TENANTRY_CONTEXT_DATABASE_URL")]
    pub context_database_url: Option<String>,
    /// Where the projector writes and the context API reads tenant
    /// contexts: `sql` (--context-database-url) or `dynamodb` (the table
    /// --dynamodb-table; region, endpoint and credentials from the standard
    /// AWS_* variables; the table is created when missing).
    #[arg(long, env = "TENANTRY_CONTEXT_STORE", default_value = "sql",
        value_parser = ["sql", "dynamodb"])]
    pub context_store: String,
    /// DynamoDB table of tenant contexts (with --context-store dynamodb).
    #[arg(
        long,
        env = "TENANTRY_DYNAMODB_TABLE",
        default_value = "tenantry-contexts",
        value_parser = parse_table_name
    )]
    pub dynamodb_table: String,
}

/// Where an HTTP service listens.
#[derive(Debug, Clone, Args)]
pub struct ListenArgs {
    /// HTTP listen address (context API, sidecar, admin). `tenantry admin`
    /// defaults to 127.0.0.1:8090, so it runs beside a context API on
    /// 8080; `TENANTRY_LISTEN` applies to both, so give one of them its own
    /// --listen when they share an environment.
    #[arg(long, env = "TENANTRY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
}

/// `tenantry admin`'s own token rule: the `aud` its tokens carry. It
/// replaces --api-jwt-audience there, so a context API token (an edge's
/// read token) is never an admin token, even when one issuer signs both.
#[derive(Debug, Clone, Args)]
pub struct AdminArgs {
    /// Required `aud` of the admin's bearer tokens (mint them with
    /// `tenantry token mint --audience tenantry-admin`); used instead of
    /// --api-jwt-audience.
    #[arg(long, env = "TENANTRY_ADMIN_JWT_AUDIENCE", default_value = tenantry_admin::DEFAULT_AUDIENCE)]
    pub admin_jwt_audience: String,
}

/// The context cache of the context API and sidecar.
#[derive(Debug, Clone, Args)]
pub struct CacheArgs {
    /// Context API and sidecar: memory bound of the context cache, in MiB
    /// (about 2 KiB per tenant). The cache is filled from the changelog
    /// topic; 0 turns it off (`context-api` then reads the store on every
    /// request; `context-sidecar` needs it).
    #[arg(
        long,
        env = "TENANTRY_CACHE_MIB",
        default_value_t = tenantry_context_api::cache::DEFAULT_CAPACITY_BYTES / (1024 * 1024)
    )]
    pub cache_mib: u64,
}

/// Bearer-token verification of the context API (and the admin side).
#[derive(Debug, Clone, Args)]
pub struct ApiAuthArgs {
    /// Context API, shared-secret mode: HS256 secret (≥ 32 bytes) that
    /// edges' bearer tokens are signed with. Exclusive with a key set. With
    /// neither, the API is unauthenticated (a warning is logged).
    #[arg(long, env = "TENANTRY_API_JWT_SECRET", hide_env_values = true)]
    pub api_jwt_secret: Option<String>,
    /// Context API, key-set mode: a JWK set file (RFC 7517) of the public
    /// keys service tokens are signed with; repeatable, merged with
    /// --api-jwks-url, read again every --api-jwks-refresh-secs.
    #[arg(
        long = "api-jwks-file",
        env = "TENANTRY_API_JWKS_FILES",
        value_delimiter = ','
    )]
    pub api_jwks_files: Vec<std::path::PathBuf>,
    /// Context API, key-set mode: a JWK set URL (https://, or http:// to a
    /// loopback address), read at start, every --api-jwks-refresh-secs, and
    /// when a token names an unknown `kid`.
    #[arg(long, env = "TENANTRY_API_JWKS_URL")]
    pub api_jwks_url: Option<String>,
    /// Context API: seconds between reads of the key set (0: never again).
    #[arg(long, env = "TENANTRY_API_JWKS_REFRESH_SECS", default_value_t = 300)]
    pub api_jwks_refresh_secs: u64,
    /// Context API: least seconds between two reads of the key set caused
    /// by tokens with an unknown `kid`.
    #[arg(long, env = "TENANTRY_API_JWKS_MIN_REFRESH_SECS", default_value_t = 30)]
    pub api_jwks_min_refresh_secs: u64,
    /// Context API, key-set mode: which issuer may call which routes,
    /// `issuer=route[,route…]` (routes `/v1/tenants/{tenant_id}/context`,
    /// `/v1/sites/{host}/context`, or `*` for both; the admin routes of
    /// `tenantry admin` one by one or as `/admin/*`, which `*` does not
    /// grant); repeatable, `;`-separated in the environment. Required with a
    /// key set; with a secret it restricts the one issuer.
    #[arg(long = "api-allow", env = "TENANTRY_API_ALLOW", value_delimiter = ';')]
    pub api_allow: Vec<String>,
    /// Context API: allowed `alg`s, comma-separated (default: EdDSA,ES256,RS256
    /// with a key set; HS256, the only one, with a secret).
    #[arg(
        long,
        env = "TENANTRY_API_JWT_ALGORITHMS",
        value_delimiter = ',',
        value_parser = parse_algorithm
    )]
    pub api_jwt_algorithms: Vec<tenantry_context_api::auth::Algorithm>,
    /// Context API, key-set mode: `asap` (a `kid` must start with
    /// `<iss>/`, so a key signs for one issuer only) or `none`.
    #[arg(long, env = "TENANTRY_API_JWT_KID_BINDING", default_value = "asap",
        value_parser = ["asap", "none"])]
    pub api_jwt_kid_binding: String,
    /// Context API, shared-secret mode: required `iss` of bearer tokens.
    #[arg(long, env = "TENANTRY_API_JWT_ISSUER", default_value = tenantry_context_api::auth::DEFAULT_ISSUER)]
    pub api_jwt_issuer: String,
    /// Context API: required `aud` of bearer tokens (`tenantry admin`
    /// uses --admin-jwt-audience instead).
    #[arg(long, env = "TENANTRY_API_JWT_AUDIENCE", default_value = tenantry_context_api::auth::DEFAULT_AUDIENCE)]
    pub api_jwt_audience: String,
    /// Context API: clock-skew leeway on `exp`, `nbf` and `iat`, seconds.
    #[arg(long, env = "TENANTRY_API_JWT_LEEWAY_SECS", default_value_t = tenantry_context_api::auth::DEFAULT_LEEWAY_SECS)]
    pub api_jwt_leeway_secs: u64,
    /// Context API: longest token lifetime (`exp - iat`) accepted, seconds;
    /// 0: no limit.
    #[arg(long, env = "TENANTRY_API_JWT_MAX_LIFETIME_SECS", default_value_t = tenantry_context_api::auth::DEFAULT_MAX_LIFETIME_SECS)]
    pub api_jwt_max_lifetime_secs: u64,
    /// Context API: verified tokens kept in memory until their `exp`; 0: no cache.
    #[arg(long, env = "TENANTRY_API_JWT_CACHE_SIZE", default_value_t = tenantry_context_api::auth::DEFAULT_CACHE_CAPACITY)]
    pub api_jwt_cache_size: u64,
}

/// What the provisioner's saga steps do: sites, shards, keys, apps, workers.
#[derive(Debug, Clone, Args)]
pub struct SagaArgs {
    /// Domain of site hosts: site `acme` → `acme.<domain>` (default: the RFC 2606 `.test` TLD).
    #[arg(long, env = "TENANTRY_SITE_DOMAIN", default_value = "tenantry.test")]
    pub site_domain: String,
    /// Product databases per shard before a new shard is created.
    #[arg(
        long,
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
    #[arg(long, env = "TENANTRY_SHARD_PROVIDER", default_value = "store",
        value_parser = ["store", "rds"])]
    pub shard_provider: String,
    /// With `--shard-provider rds`: the PostgreSQL server every shard
    /// instance's databases are created on (the data plane). Default: the
    /// store's server (`--database-url`).
    #[arg(long, env = "TENANTRY_RDS_DATA_PLANE")]
    pub rds_data_plane: Option<String>,
    /// With `--shard-provider rds`: seconds to wait for a new instance or a
    /// snapshot to become available, per attempt of its step.
    #[arg(
        long,
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
        env = "TENANTRY_RDS_PREFIX",
        default_value = "tenantry",
        value_parser = parse_rds_prefix
    )]
    pub rds_prefix: String,
    /// Seconds a destroyed tenant's site host stays unusable (default 30 days).
    #[arg(
        long,
        env = "TENANTRY_HOST_QUARANTINE_SECS",
        default_value_t = 2_592_000,
        value_parser = clap::value_parser!(i64).range(0..)
    )]
    pub host_quarantine_secs: i64,
    /// Keep a deactivated product's database (renamed archived_<name>) instead of dropping it after its snapshot.
    #[arg(long, env = "TENANTRY_ARCHIVE_DATABASES")]
    pub archive_databases: bool,
    /// JSON file of registered apps and the egress allow-list for lifecycle callbacks
    /// ({"egress_allow": ["host:port"], "apps": [{"key", "base_url", "shared_secret"}]}).
    /// Without it no app is registered, and activating a product with apps fails its step 7.
    #[arg(long, env = "TENANTRY_APPS_CONFIG")]
    pub apps_config: Option<std::path::PathBuf>,
    /// Directory of the local tenant data keys (development key service; production uses KMS).
    #[arg(long, env = "TENANTRY_KEYS_DIR")]
    pub keys_dir: Option<std::path::PathBuf>,
    /// Where tenant data keys live: `local` (key files in --keys-dir) or `kms`
    /// (AWS KMS, one key per tenant; region, endpoint and credentials from the
    /// standard AWS_* variables).
    #[arg(long, env = "TENANTRY_KEY_SERVICE", default_value = "local",
        value_parser = ["local", "kms"])]
    pub key_service: String,
    /// Provisioner workers: tenants handled in parallel (a tenant's events stay in order on one worker).
    #[arg(long, env = "TENANTRY_WORKERS", default_value_t = 16,
        value_parser = clap::builder::ValueParser::new(clap::builder::TypedValueParser::map(clap::value_parser!(u16).range(1..=1024), usize::from)))]
    pub workers: usize,
}
