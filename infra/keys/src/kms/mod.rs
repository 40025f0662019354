//! [`KmsKeyService`]: one AWS KMS key per tenant, data keys cached in front.

mod cache;
mod config;
mod customer;
mod errors;
pub(crate) mod events;
mod lifecycle;

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, KeyState};
use tenantry_schemas::TenantId;
use zeroize::Zeroizing;

pub use cache::CacheLimits;
pub use config::{KmsEndpoint, KmsSettings, MissingEnv, RetryPolicy};

use crate::envelope::{self, Wrapping};
use crate::{KeyError, KeyService, TenantKey};
use cache::{CacheKey, DataKey, DataKeyCache};
use errors::classify_for;
use events::{KmsOperation, observed};
use lifecycle::is_destroyed;

/// Prefix of the alias naming each tenant's KMS key: `alias/tenantry/<tenant>`.
pub const ALIAS_PREFIX: &str = "alias/tenantry/";
/// Name of the encryption-context pair (and of the key's tag) holding the tenant id.
pub const TENANT_CONTEXT_KEY: &str = "tenant_id";

/// Envelope encryption under AWS KMS (seed, "Cryptographic key management";
/// DESIGN, "Envelope encryption").
///
/// - [`create_key`](KeyService::create_key): `DescribeKey` on
///   the alias; if absent, `CreateKey` (`SYMMETRIC_DEFAULT`, `ENCRYPT_DECRYPT`,
///   tag `tenant_id=<tenant>`) then `CreateAlias` `alias/tenantry/<tenant>`.
///   A creator that loses the alias race schedules its own key for deletion.
/// - [`seal_with`](KeyService::seal_with): a data key from the cache (case K3); on a
///   miss one `GenerateDataKey` (`AES_256`, encryption context
///   `{tenant_id: <tenant>}`) per tenant and context, shared by concurrent
///   seals; rotated by [`CacheLimits`].
/// - [`open_with`](KeyService::open_with): `Decrypt` of the wrapped data key with
///   `KeyId` = the tenant's alias and the same encryption context, then
///   AES-256-GCM. Unwrapped keys are not cached, so destruction takes effect
///   at once for every process.
/// - [`destroy_key`](KeyService::destroy_key): drops the
///   tenant's cached data keys, `DisableKey` (decrypts fail from now on),
///   then `ScheduleKeyDeletion` after [`KmsSettings::deletion_window_days`].
///   The alias stays, so the key is reported `Destroyed` (not `NotFound`)
///   until KMS deletes key and alias at the end of the window. Another
///   process may keep sealing with its cached data key until that key's
///   limits retire it; what it seals can never be opened.
/// - Errors are classified by KMS error code (see [`KeyError`]); transport
///   errors and throttling are retried per [`RetryPolicy`] first.
///
/// A tenant with its own key ([`TenantKey::customer_key`], a key ARN in the
/// customer's account or a key id) has no alias: every call names the key.
/// - `create_key` checks it (`customer.rs`): `DescribeKey` (found,
///   `Enabled`, `ENCRYPT_DECRYPT`, `SYMMETRIC_DEFAULT`), then a
///   `GenerateDataKey` and `Decrypt` round trip under the tenant's context.
///   A failed check is [`KeyError::Unusable`] with the reason.
/// - `seal_with` and `open_with` call `DescribeKey` first, every time and whatever
///   [`KmsSettings::check_key_state`] says: the owner may disable the key at
///   any moment, and a cached data key must not outlive that. A key not
///   `Enabled` is [`KeyError::Disabled`] (and the tenant's cached data keys
///   are dropped), as are KMS's own `DisabledException` and
///   `KMSInvalidStateException` for it.
/// - `destroy_key` calls KMS not at all: no `DisableKey`, no
///   `ScheduleKeyDeletion` on a key Tenantry does not own. It drops the
///   tenant's cached data keys and refuses the tenant from then on in this
///   process ([`KeyError::Destroyed`]); what else holds the key reference is
///   the tenant's record, which nothing reads for a destroyed tenant.
pub struct KmsKeyService {
    client: aws_sdk_kms::Client,
    settings: KmsSettings,
    cache: DataKeyCache,
    /// `GenerateDataKey` calls made (one per call, whatever the SDK retried).
    generate_data_key_calls: AtomicU64,
    /// Tenants with their own key destroyed here: their data keys are
    /// forgotten. A std mutex: held for one set operation, never across an await.
    forgotten: Mutex<HashSet<TenantId>>,
    /// When each tenant's own key was last found `Enabled` by a check
    /// ([`KmsSettings::customer_key_recheck`]). Held for one map operation.
    enabled_at: Mutex<HashMap<TenantId, Instant>>,
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
            forgotten: Mutex::new(HashSet::new()),
            enabled_at: Mutex::new(HashMap::new()),
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

    /// The `KeyId` of KMS calls for `key`: the tenant's own key as given,
    /// else Tenantry's alias of the tenant.
    fn key_id(key: &TenantKey) -> String {
        match &key.customer_key {
            Some(own) => own.as_str().to_owned(),
            None => Self::alias(&key.tenant),
        }
    }

    /// Whether `key` may be used: a tenant's own key is refused once
    /// forgotten, and checked for its state; Tenantry's per `check_key_state`.
    async fn check_before_use(&self, key: &TenantKey) -> Result<(), KeyError> {
        match &key.customer_key {
            None => self.check_usable(&key.tenant).await,
            Some(own) => {
                self.refuse_forgotten(&key.tenant)?;
                let checked = self.check_customer_key(&key.tenant, own).await;
                let mut enabled_at = self.lock_enabled_at();
                match &checked {
                    Ok(()) => {
                        enabled_at.insert(key.tenant.clone(), Instant::now());
                    }
                    Err(error) => {
                        enabled_at.remove(&key.tenant);
                        if matches!(error, KeyError::Disabled { .. }) {
                            self.cache.evict_tenant(&key.tenant);
                        }
                    }
                }
                checked
            }
        }
    }

    /// Before a seal under a tenant's own key: [`Self::check_before_use`],
    /// unless the key was found `Enabled` within
    /// [`KmsSettings::customer_key_recheck`].
    async fn check_before_seal(&self, key: &TenantKey) -> Result<(), KeyError> {
        self.refuse_forgotten(&key.tenant)?;
        let recheck = self.settings.customer_key_recheck;
        let fresh = self
            .lock_enabled_at()
            .get(&key.tenant)
            .is_some_and(|at| at.elapsed() < recheck);
        if fresh {
            return Ok(());
        }
        self.check_before_use(key).await
    }

    fn lock_enabled_at(&self) -> std::sync::MutexGuard<'_, HashMap<TenantId, Instant>> {
        // One insert, lookup or removal per lock: poisoning cannot leave it
        // half-changed.
        self.enabled_at
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn generate(&self, key: &TenantKey) -> Result<DataKey, KeyError> {
        if key.customer_key.is_none() {
            // A tenant's own key was checked by the seal that missed the cache.
            self.check_usable(&key.tenant).await?;
        }
        let tenant = &key.tenant;
        self.generate_data_key_calls.fetch_add(1, Ordering::Relaxed);
        let out = observed(
            KmsOperation::GenerateDataKey,
            self.client
                .generate_data_key()
                .key_id(Self::key_id(key))
                .key_spec(DataKeySpec::Aes256)
                .set_encryption_context(Some(context(tenant)))
                .send(),
        )
        .await
        .map_err(|e| classify_for(key, "GenerateDataKey", e))?;
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

    /// `Decrypt` of a wrapped data key of `key`'s tenant, under `key`.
    async fn unwrap(
        &self,
        key: &TenantKey,
        wrapped: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let out = observed(
            KmsOperation::Decrypt,
            self.client
                .decrypt()
                .key_id(Self::key_id(key))
                .ciphertext_blob(Blob::new(wrapped))
                .set_encryption_context(Some(context(&key.tenant)))
                .send(),
        )
        .await
        .map_err(|e| classify_for(key, "Decrypt", e))?;
        Ok(Zeroizing::new(
            out.plaintext
                .ok_or_else(|| KeyError::Unavailable("KMS Decrypt returned no Plaintext".into()))?
                .into_inner(),
        ))
    }
}

#[async_trait]
impl KeyService for KmsKeyService {
    async fn create_key(&self, key: &TenantKey) -> Result<(), KeyError> {
        let tenant = &key.tenant;
        if let Some(own) = &key.customer_key {
            self.refuse_forgotten(tenant)?;
            return self.verify_customer_key(key, own).await;
        }
        match self.describe(tenant).await? {
            None => self.create(tenant).await,
            Some((_, state)) if is_destroyed(&state) => Err(KeyError::Destroyed(tenant.clone())),
            Some(_) => Ok(()),
        }
    }

    async fn seal_with(&self, key: &TenantKey, plaintext: &[u8]) -> Result<Vec<u8>, KeyError> {
        let tenant = &key.tenant;
        if key.customer_key.is_some() {
            self.check_before_seal(key).await?;
        }
        let cache_key = CacheKey {
            tenant: tenant.clone(),
            context: vec![(TENANT_CONTEXT_KEY.to_owned(), tenant.to_string())],
        };
        let data_key = self
            .cache
            .data_key(&cache_key, || self.generate(key))
            .await?;
        envelope::seal(
            &data_key.cipher,
            Wrapping::AwsKms,
            &data_key.wrapped,
            tenant,
            plaintext,
        )
    }

    async fn open_with(&self, key: &TenantKey, sealed: &[u8]) -> Result<Vec<u8>, KeyError> {
        let parsed = envelope::parse(sealed, Wrapping::AwsKms)?;
        self.check_before_use(key).await?;
        let plaintext = self.unwrap(key, parsed.wrapped_key).await?;
        envelope::open(&envelope::cipher(&plaintext)?, &parsed, &key.tenant)
    }

    async fn destroy_key(&self, key: &TenantKey) -> Result<(), KeyError> {
        let tenant = &key.tenant;
        self.cache.evict_tenant(tenant);
        let result = if key.customer_key.is_some() {
            // Not Tenantry's key: forget the tenant, leave the key alone.
            self.forget(tenant);
            self.lock_enabled_at().remove(tenant);
            Ok(())
        } else {
            self.shred(tenant).await
        };
        // A seal that raced with destruction may have cached a new data key.
        self.cache.evict_tenant(tenant);
        result
    }
}

/// The encryption context `{tenant_id: <tenant>}`.
fn context(tenant: &TenantId) -> HashMap<String, String> {
    HashMap::from([(TENANT_CONTEXT_KEY.to_owned(), tenant.to_string())])
}
