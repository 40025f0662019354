//! How [`DynamoContexts`](crate::DynamoContexts) reaches DynamoDB.

use std::time::Duration;

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Region};
use tenantry_aws::AwsAccount;
pub use tenantry_aws::MissingEnv;

/// Which table, where and as whom: region, endpoint and static credentials
/// are given explicitly, so the SDK never probes a profile file or
/// instance metadata.
#[derive(Debug, Clone)]
pub struct DynamoConfig {
    /// Table name.
    pub table: String,
    /// AWS region, e.g. `us-east-1`.
    pub region: String,
    /// Endpoint override and static credentials.
    pub account: AwsAccount,
    /// Attempts per SDK call, the first included, in the SDK's standard
    /// retry mode (throttling and transient errors: exponential backoff
    /// with jitter and a client-wide retry quota). Default 5.
    pub max_attempts: u32,
    /// Longest wait of [`DynamoContexts::ensure_table`](crate::DynamoContexts::ensure_table)
    /// for the table and its index to become `ACTIVE`. Default 60 s.
    pub table_active_timeout: Duration,
}

impl DynamoConfig {
    /// Table `table`, reached as `AWS_REGION` (else `AWS_DEFAULT_REGION`),
    /// `AWS_ENDPOINT_URL` (optional), `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` (optional) say —
    /// what `infra/local/env` exports.
    ///
    /// Errors: [`MissingEnv`] naming the first required variable not set.
    pub fn from_env(table: impl Into<String>) -> Result<Self, MissingEnv> {
        Ok(Self {
            table: table.into(),
            region: tenantry_aws::env_region()?,
            account: AwsAccount::from_env()?,
            max_attempts: 5,
            table_active_timeout: Duration::from_secs(60),
        })
    }

    /// Builds the SDK client: this endpoint, static credentials, the
    /// standard retry mode with `max_attempts`, 3 s connect, 10 s
    /// per-attempt and 30 s per-operation timeouts.
    pub fn client(&self) -> aws_sdk_dynamodb::Client {
        let mut config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .credentials_provider(self.account.credentials("tenantry-dynamodb"))
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
        if let Some(url) = &self.account.endpoint_url {
            config = config.endpoint_url(url);
        }
        aws_sdk_dynamodb::Client::from_conf(config.build())
    }
}
