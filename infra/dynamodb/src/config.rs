//! How [`DynamoContexts`](crate::DynamoContexts) reaches DynamoDB.

use std::fmt;
use std::time::Duration;

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};

/// Which table, where and as whom: region, endpoint and static credentials
/// are given explicitly, so the SDK never probes a profile file or
/// instance metadata.
#[derive(Clone)]
pub struct DynamoConfig {
    /// Table name.
    pub table: String,
    /// AWS region, e.g. `us-east-1`.
    pub region: String,
    /// Endpoint override (`http://127.0.0.1:5000` for the local moto
    /// server); `None` uses the regional AWS endpoint.
    pub endpoint_url: Option<String>,
    /// Static access key id.
    pub access_key_id: String,
    /// Static secret access key (never printed by `Debug`).
    pub secret_access_key: String,
    /// Session token for temporary credentials.
    pub session_token: Option<String>,
    /// Attempts per SDK call, the first included, in the SDK's standard
    /// retry mode (throttling and transient errors: exponential backoff
    /// with jitter and a client-wide retry quota). Default 5.
    pub max_attempts: u32,
    /// Longest wait of [`DynamoContexts::ensure_table`](crate::DynamoContexts::ensure_table)
    /// for the table and its index to become `ACTIVE`. Default 60 s.
    pub table_active_timeout: Duration,
}

/// A required environment variable is missing or not Unicode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {0} is not set")]
pub struct MissingEnv(pub &'static str);

impl DynamoConfig {
    /// Table `table`, reached as `AWS_REGION` (else `AWS_DEFAULT_REGION`),
    /// `AWS_ENDPOINT_URL` (optional), `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` (optional) say —
    /// what `infra/local/env` exports.
    ///
    /// Errors: [`MissingEnv`] naming the first required variable not set.
    pub fn from_env(table: impl Into<String>) -> Result<Self, MissingEnv> {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        let required = |name: &'static str| var(name).ok_or(MissingEnv(name));
        Ok(Self {
            table: table.into(),
            region: var("AWS_REGION")
                .or_else(|| var("AWS_DEFAULT_REGION"))
                .ok_or(MissingEnv("AWS_REGION"))?,
            endpoint_url: var("AWS_ENDPOINT_URL"),
            access_key_id: required("AWS_ACCESS_KEY_ID")?,
            secret_access_key: required("AWS_SECRET_ACCESS_KEY")?,
            session_token: var("AWS_SESSION_TOKEN"),
            max_attempts: 5,
            table_active_timeout: Duration::from_secs(60),
        })
    }

    /// Builds the SDK client: this endpoint, static credentials, the
    /// standard retry mode with `max_attempts`, 3 s connect, 10 s
    /// per-attempt and 30 s per-operation timeouts.
    pub fn client(&self) -> aws_sdk_dynamodb::Client {
        let credentials = Credentials::new(
            &self.access_key_id,
            &self.secret_access_key,
            self.session_token.clone(),
            None,
            "tenantry-dynamodb",
        );
        let mut config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .credentials_provider(credentials)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(self.max_attempts.max(1))
                    .with_initial_backoff(Duration::from_millis(50))
                    .with_max_backoff(Duration::from_secs(5)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .operation_attempt_timeout(Duration::from_secs(10))
                    .operation_timeout(Duration::from_secs(30))
                    .build(),
            );
        if let Some(url) = &self.endpoint_url {
            config = config.endpoint_url(url);
        }
        aws_sdk_dynamodb::Client::from_conf(config.build())
    }
}

impl fmt::Debug for DynamoConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamoConfig")
            .field("table", &self.table)
            .field("region", &self.region)
            .field("endpoint_url", &self.endpoint_url)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .field("max_attempts", &self.max_attempts)
            .field("table_active_timeout", &self.table_active_timeout)
            .finish()
    }
}
