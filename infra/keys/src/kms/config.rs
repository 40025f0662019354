//! How [`KmsKeyService`](crate::KmsKeyService) reaches KMS and how it behaves.

use std::time::Duration;

use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::config::timeout::TimeoutConfig;
use aws_sdk_kms::config::{BehaviorVersion, Region};
use tenantry_aws::AwsAccount;
pub use tenantry_aws::MissingEnv;

use super::cache::CacheLimits;

/// Where and as whom to call AWS KMS, given explicitly so the SDK never
/// probes a profile file or instance metadata.
#[derive(Debug, Clone)]
pub struct KmsEndpoint {
    /// AWS region, e.g. `us-east-1`.
    pub region: String,
    /// Endpoint override and static credentials.
    pub account: AwsAccount,
}

impl KmsEndpoint {
    /// Reads `AWS_REGION` (else `AWS_DEFAULT_REGION`) and the account
    /// ([`AwsAccount::from_env`]) — what `infra/local/env` exports.
    ///
    /// Errors: [`MissingEnv`] naming the first required variable not set.
    pub fn from_env() -> Result<Self, MissingEnv> {
        Ok(Self {
            region: tenantry_aws::env_region()?,
            account: AwsAccount::from_env()?,
        })
    }

    /// Builds the SDK client: this endpoint, static credentials, the given
    /// retry policy, 3 s connect and 10 s per-attempt timeouts.
    pub fn client(&self, retry: &RetryPolicy) -> aws_sdk_kms::Client {
        let mut config = aws_sdk_kms::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .credentials_provider(self.account.credentials("tenantry-keys"))
            .retry_config(retry.to_sdk())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .operation_attempt_timeout(Duration::from_secs(10))
                    .build(),
            );
        if let Some(url) = &self.account.endpoint_url {
            config = config.endpoint_url(url);
        }
        aws_sdk_kms::Client::from_conf(config.build())
    }
}

/// Retries of one KMS call on throttling (`ThrottlingException`) and
/// transient errors (HTTP 5xx, `KMSInternalException`, timeouts, connection
/// failures): the SDK's standard mode, exponential backoff with full jitter
/// (each wait is uniform in `0..min(initial_backoff · 2^attempt, max_backoff)`)
/// and a client-wide retry quota, so a throttled KMS is not stormed (case K3).
/// After `max_attempts` the call fails with [`KeyError::Unavailable`](crate::KeyError::Unavailable),
/// which the saga retries later: throttling never fails an event for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call, the first included. Default 5.
    pub max_attempts: u32,
    /// Upper bound of the first wait. Default 100 ms.
    pub initial_backoff: Duration,
    /// Upper bound of any wait. Default 5 s.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    fn to_sdk(self) -> RetryConfig {
        RetryConfig::standard()
            .with_max_attempts(self.max_attempts.max(1))
            .with_initial_backoff(self.initial_backoff)
            .with_max_backoff(self.max_backoff)
    }
}

/// Behaviour of [`KmsKeyService`](crate::KmsKeyService).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KmsSettings {
    /// Usage limits of cached data keys.
    pub cache: CacheLimits,
    /// Retries of each KMS call (used by [`KmsKeyService::from_env`](crate::KmsKeyService::from_env)).
    pub retry: RetryPolicy,
    /// Call `DescribeKey` before every `Decrypt` and before every
    /// `GenerateDataKey` (cache misses only), and fail with
    /// [`KeyError::Destroyed`](crate::KeyError::Destroyed) unless the key is
    /// `Enabled`. Real KMS enforces the key state itself (`DisabledException`,
    /// `KMSInvalidStateException`); moto 5.2 does not, so without this check a
    /// destroyed key still decrypts there. Default `true` (fail closed), at
    /// the cost of one more request per open; set `false` against real KMS.
    pub check_key_state: bool,
    /// How long a tenant's own key, found `Enabled`, is trusted by seals
    /// without asking KMS again (`DescribeKey`). A seal under a cached data
    /// key makes no KMS call, so a key its owner disabled is noticed by
    /// seals within this time; opens always ask (they call `Decrypt`
    /// anyway). Default 30 s: one call per tenant per 30 s of sealing
    /// instead of one per seal. Zero: ask before every seal.
    pub customer_key_recheck: Duration,
    /// `PendingWindowInDays` of `ScheduleKeyDeletion`: 7, the KMS minimum
    /// (range 7–30). Decrypts fail from the moment of destruction anyway
    /// (the key is disabled first).
    pub deletion_window_days: i32,
}

impl Default for KmsSettings {
    fn default() -> Self {
        Self {
            cache: CacheLimits::default(),
            retry: RetryPolicy::default(),
            check_key_state: true,
            customer_key_recheck: Duration::from_secs(30),
            deletion_window_days: 7,
        }
    }
}
