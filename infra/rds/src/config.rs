//! How [`RdsShards`](crate::RdsShards) reaches RDS and KMS, and what
//! instances it creates.

use std::time::Duration;

use tenantry_aws::AwsAccount;
pub use tenantry_aws::MissingEnv;

/// Where and as whom, and the shape of new instances. Region is per call
/// (a shard's region, [`aws_region`](crate::aws_region)); endpoint and
/// static credentials are explicit, so the SDK never probes a profile
/// file or instance metadata.
#[derive(Debug, Clone)]
pub struct RdsConfig {
    /// First part of every instance and snapshot identifier
    /// (`<prefix>-<shard id>`), so installations sharing an AWS account
    /// keep apart. Default `tenantry`.
    pub prefix: String,
    /// Endpoint override (for RDS and KMS alike) and static credentials.
    pub account: AwsAccount,
    /// Attempts per SDK call, the first included (the SDK's standard retry
    /// mode: throttling and transient errors, backoff with jitter).
    pub max_attempts: u32,
    /// Longest wait for an instance or a snapshot to become `available`,
    /// per call. Default 15 minutes (a Multi-AZ instance takes about ten).
    pub available_timeout: Duration,
    /// Pause between two `Describe*` calls while waiting. Default 10 s.
    pub poll_interval: Duration,
    /// What a new shard instance is.
    pub instance: InstanceSpec,
}

/// The shape of a new shard instance (`CreateDBInstance`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSpec {
    /// `DBInstanceClass`. Default `db.r6g.large`.
    pub class: String,
    /// `AllocatedStorage`, GiB. Default 100.
    pub storage_gib: i32,
    /// `Engine`: `postgres`.
    pub engine: String,
    /// `MasterUsername`; its password is managed by RDS in Secrets Manager
    /// (`ManageMasterUserPassword`), never seen by Tenantry.
    pub master_username: String,
}

impl Default for InstanceSpec {
    fn default() -> Self {
        Self {
            class: "db.r6g.large".into(),
            storage_gib: 100,
            engine: "postgres".into(),
            master_username: "tenantry".into(),
        }
    }
}

impl RdsConfig {
    /// Reached as `AWS_ENDPOINT_URL` (optional), `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` (optional) say —
    /// what `infra/local/env` exports — with the defaults above.
    ///
    /// Errors: [`MissingEnv`] naming the first required variable not set.
    pub fn from_env() -> Result<Self, MissingEnv> {
        Ok(Self {
            prefix: "tenantry".into(),
            account: AwsAccount::from_env()?,
            max_attempts: 5,
            available_timeout: Duration::from_secs(15 * 60),
            poll_interval: Duration::from_secs(10),
            instance: InstanceSpec::default(),
        })
    }

    pub(crate) fn retry(&self) -> aws_sdk_rds::config::retry::RetryConfig {
        aws_sdk_rds::config::retry::RetryConfig::standard()
            .with_max_attempts(self.max_attempts.max(1))
            .with_initial_backoff(Duration::from_millis(100))
            .with_max_backoff(Duration::from_secs(10))
    }

    pub(crate) fn timeouts(&self) -> aws_sdk_rds::config::timeout::TimeoutConfig {
        aws_sdk_rds::config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .operation_attempt_timeout(Duration::from_secs(20))
            .operation_timeout(Duration::from_secs(60))
            .build()
    }
}
