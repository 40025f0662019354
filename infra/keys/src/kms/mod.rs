//! [`KmsKeyService`]: one AWS KMS key per tenant, data keys cached in front.

mod cache;
mod config;
mod errors;
mod lifecycle;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, KeyState};
use tenantry_schemas::TenantId;
use zeroize::Zeroizing;

pub use cache::CacheLimits;
pub use config::{KmsEndpoint, KmsSettings, MissingEnv, RetryPolicy};

use crate::envelope::{self, Wrapping};
use crate::{KeyError, KeyService};
use cache::{CacheKey, DataKey, DataKeyCache};
use errors::classify;
use lifecycle::is_destroyed;

/// Prefix of the alias naming each tenant's KMS key: `alias/tenantry/<tenant>`.
pub const ALIAS_PREFIX: &str = "alias/tenantry/";
/// Name of the encryption-context pair (and of the key's tag) holding the tenant id.
pub const TENANT_CONTEXT_KEY: &str = "tenant_id";

/// Envelope encryption under AWS KMS (seed, "Cryptographic key management";
/// DESIGN, "Envelope encryption").
///
/// - [`create_tenant_key`](KeyService::create_tenant_key): `DescribeKey` on
///   the alias; if absent, `CreateKey` (`SYMMETRIC_DEFAULT`, `ENCRYPT_DECRYPT`,
///   tag `tenant_id=<tenant>`) then `CreateAlias` `alias/tenantry/<tenant>`.
///   A creator that loses the alias race schedules its own key for deletion.
/// - [`seal`](KeyService::seal): a data key from the cache (case K3); on a
///   miss one `GenerateDataKey` (`AES_256`, encryption context
///   `{tenant_id: <tenant>}`) per tenant and context, shared by concurrent
///   seals; rotated by [`CacheLimits`].
/// - [`open`](KeyService::open): `Decrypt` of the wrapped data key with
///   `KeyId` = the tenant's alias and the same encryption context, then
///   AES-256-GCM. Unwrapped keys are not cached, so destruction takes effect
///   at once for every process.
/// - [`destroy_tenant_key`](KeyService::destroy_tenant_key): drops the
///   tenant's cached data keys, `DisableKey` (decrypts fail from now on),
///   then `ScheduleKeyDeletion` after [`KmsSettings::deletion_window_days`].
///   The alias stays, so the key is reported `Destroyed` (not `NotFound`)
///   until KMS deletes key and alias at the end of the window. Another
///   process may keep sealing with its cached data key until that key's
///   limits retire it; what it seals can never be opened.
/// - Errors are classified by KMS error code (see [`KeyError`]); transport
///   errors and throttling are retried per [`RetryPolicy`] first.
pub struct KmsKeyService {
    client: aws_sdk_kms::Client,
    settings: KmsSettings,
    cache: DataKeyCache,
    /// `GenerateDataKey` calls made (one per call, whatever the SDK retried).
    generate_data_key_calls: AtomicU64,
}

impl KmsKeyService {
    /// A service on a client built from [`KmsEndpoint::from_env`] with `settings.retry`.
    ///
    /// Errors: [`MissingEnv`] when region or credentials are not set.
    pub fn from_env(settings: KmsSettings) -> Result<Self, MissingEnv> {
        Ok(Self::new(&KmsEndpoint::from_env()?, settings))
    }

    /// A service on a client for `endpoint` with `settings.retry`.
    pub fn new(endpoint: &KmsEndpoint, settings: KmsSettings) -> Self {
        Self::with_client(endpoint.client(&settings.retry), settings)
    }

    /// A service on a client the caller configured (then `settings.retry` is unused).
    pub fn with_client(client: aws_sdk_kms::Client, settings: KmsSettings) -> Self {
        Self {
            client,
            cache: DataKeyCache::new(settings.cache),
            settings,
            generate_data_key_calls: AtomicU64::new(0),
        }
    }

    /// `GenerateDataKey` calls made by this service so far: one per cache
    /// miss or rotation, for tests (K3) and metrics.
    pub fn generate_data_key_calls(&self) -> u64 {
        self.generate_data_key_calls.load(Ordering::Relaxed)
    }

    /// The alias of `tenant`'s KMS key: `alias/tenantry/<tenant>`.
    pub fn alias(tenant: &TenantId) -> String {
        format!("{ALIAS_PREFIX}{tenant}")
    }

    /// With [`KmsSettings::check_key_state`]: `Ok` only if the key is `Enabled`.
    async fn check_usable(&self, tenant: &TenantId) -> Result<(), KeyError> {
        if !self.settings.check_key_state {
            return Ok(());
        }
        match self.describe(tenant).await? {
            None => Err(KeyError::NotFound(tenant.clone())),
            Some((_, KeyState::Enabled)) => Ok(()),
            Some((_, state)) if is_destroyed(&state) => Err(KeyError::Destroyed(tenant.clone())),
            Some((_, state)) => Err(KeyError::Unavailable(format!(
                "KMS key of tenant {tenant} is {state}"
            ))),
        }
    }

    async fn generate(&self, tenant: &TenantId) -> Result<DataKey, KeyError> {
        self.check_usable(tenant).await?;
        self.generate_data_key_calls.fetch_add(1, Ordering::Relaxed);
        let out = self
            .client
            .generate_data_key()
            .key_id(Self::alias(tenant))
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(Some(context(tenant)))
            .send()
            .await
            .map_err(|e| classify(tenant, "GenerateDataKey", e))?;
        let missing =
            |field| KeyError::Unavailable(format!("KMS GenerateDataKey returned no {field}"));
        let plaintext = Zeroizing::new(
            out.plaintext
                .ok_or_else(|| missing("Plaintext"))?
                .into_inner(),
        );
        let wrapped = out
            .ciphertext_blob
            .ok_or_else(|| missing("CiphertextBlob"))?
            .into_inner();
        Ok(DataKey {
            cipher: envelope::cipher(&plaintext)?,
            wrapped,
        })
    }
}

#[async_trait]
impl KeyService for KmsKeyService {
    async fn create_tenant_key(&self, tenant: &TenantId) -> Result<(), KeyError> {
        match self.describe(tenant).await? {
            None => self.create(tenant).await,
            Some((_, state)) if is_destroyed(&state) => Err(KeyError::Destroyed(tenant.clone())),
            Some(_) => Ok(()),
        }
    }

    async fn seal(&self, tenant: &TenantId, plaintext: &[u8]) -> Result<Vec<u8>, KeyError> {
        let key = CacheKey {
            tenant: tenant.clone(),
            context: vec![(TENANT_CONTEXT_KEY.to_owned(), tenant.to_string())],
        };
        let data_key = self.cache.data_key(&key, || self.generate(tenant)).await?;
        envelope::seal(
            &data_key.cipher,
            Wrapping::AwsKms,
            &data_key.wrapped,
            tenant,
            plaintext,
        )
    }

    async fn open(&self, tenant: &TenantId, sealed: &[u8]) -> Result<Vec<u8>, KeyError> {
        let parsed = envelope::parse(sealed, Wrapping::AwsKms)?;
        self.check_usable(tenant).await?;
        let out = self
            .client
            .decrypt()
            .key_id(Self::alias(tenant))
            .ciphertext_blob(Blob::new(parsed.wrapped_key))
            .set_encryption_context(Some(context(tenant)))
            .send()
            .await
            .map_err(|e| classify(tenant, "Decrypt", e))?;
        let plaintext = Zeroizing::new(
            out.plaintext
                .ok_or_else(|| KeyError::Unavailable("KMS Decrypt returned no Plaintext".into()))?
                .into_inner(),
        );
        envelope::open(&envelope::cipher(&plaintext)?, &parsed, tenant)
    }

    async fn destroy_tenant_key(&self, tenant: &TenantId) -> Result<(), KeyError> {
        self.cache.evict_tenant(tenant);
        let result = self.shred(tenant).await;
        // A seal that raced with destruction may have cached a new data key.
        self.cache.evict_tenant(tenant);
        result
    }
}

/// The encryption context `{tenant_id: <tenant>}`.
fn context(tenant: &TenantId) -> HashMap<String, String> {
    HashMap::from([(TENANT_CONTEXT_KEY.to_owned(), tenant.to_string())])
}
