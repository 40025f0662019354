//! Per-tenant keys: envelope encryption of tenant secrets and crypto-shredding.
//!
//! DESIGN, "Envelope encryption": secrets in the tenant context (product
//! database credentials…) are encrypted with a data key, itself wrapped by the
//! tenant's key; data keys are cached and rotated by usage limits. Tenant
//! destruction ends with crypto-shredding — the tenant's key is
//! destroyed, so what remains encrypted can no longer be read.
//!
//! - [`KeyService`]: the port the sagas and services use.
//! - [`LocalKeyService`] (`local`): master keys in files, for `tenantry dev`
//!   and the local stack without AWS. Development only.
//! - [`KmsKeyService`] (`kms`): one AWS KMS key per tenant, a data-key cache
//!   in front of `GenerateDataKey` (case K3), retries with jittered backoff.
//! - `envelope`: the sealed format both write (version byte, wrapping, wrapped
//!   data key, nonce, AES-256-GCM body).
//! - [`TenantKey`]: which key wraps a tenant's data keys — the one Tenantry
//!   creates for it, or the tenant's own KMS key ("bring your own key",
//!   `tenant_created.kms_key`). The caller names it on every call: a tenant's
//!   own key lives in the customer's account, where Tenantry can neither
//!   alias nor tag it, so the reference travels with the tenant's record.
//! - [`KeyError`] (`error`): permanent (`Destroyed`, `Corrupt`, `NotFound`,
//!   `Unusable`), retryable (`Unavailable`), or blocked until a tenant's own
//!   key is enabled again (`Disabled`).
//!
//! Depends on `tenantry-schemas` (for [`TenantId`]) and external crates only;
//! nothing here knows sagas, Kafka or the stores.
//!
//! # Sealed format
//!
//! What [`KeyService::seal_with`] returns and [`KeyService::open_with`] takes:
//!
//! ```text
//! offset  size  field
//! 0       1     format version, 1
//! 1       1     wrapping: 1 = local key file, 2 = AWS KMS
//! 2       2     L, length of the wrapped data key, big-endian, 1..=65535
//! 4       L     wrapped data key (local: nonce ‖ AES-GCM(master key); KMS: CiphertextBlob)
//! 4+L     12    nonce of the body, 96 random bits
//! 16+L    n+16  body: AES-256-GCM ciphertext of the n plaintext bytes ‖ 16-byte tag
//! ```
//!
//! The body's additional authenticated data is bytes `0..4+L` and the tenant
//! id: a changed header, a swapped wrapped key or a value presented for
//! another tenant fails the tag check. Nonces are random, a fresh one per
//! seal (NIST SP 800-38D §8.2.2); a data key seals at most 2^32 values (§8.3).

mod envelope;
mod error;
mod kms;
mod local;

use async_trait::async_trait;
use tenantry_schemas::{KmsKeyRef, TenantId};

pub use error::KeyError;
pub use kms::{
    ALIAS_PREFIX, CacheLimits, KmsEndpoint, KmsKeyService, KmsSettings, MissingEnv, RetryPolicy,
    TENANT_CONTEXT_KEY,
};
pub use local::LocalKeyService;

/// The Prometheus metrics of [`KmsKeyService`] (KMS calls, the data-key
/// cache); [`LocalKeyService`] emits none.
pub use kms::events::CATALOG;

/// The key that wraps a tenant's data keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantKey {
    /// The tenant: the encryption context of every data key wrapped for it.
    pub tenant: TenantId,
    /// The tenant's own KMS key (`tenant_created.kms_key`), which Tenantry
    /// uses but does not own: it checks it, wraps data keys with it, and
    /// never disables it or schedules its deletion. `None`: the key Tenantry
    /// creates for the tenant and destroys with it.
    pub customer_key: Option<KmsKeyRef>,
}

impl TenantKey {
    /// The key Tenantry creates and owns for `tenant`.
    pub fn managed(tenant: TenantId) -> Self {
        Self {
            tenant,
            customer_key: None,
        }
    }

    /// The tenant's own KMS key `key`.
    pub fn customer(tenant: TenantId, key: KmsKeyRef) -> Self {
        Self {
            tenant,
            customer_key: Some(key),
        }
    }
}

/// Port: per-tenant keys and envelope encryption under them.
///
/// Every operation is safe to call concurrently and to repeat. All errors are
/// [`KeyError`]s; only [`KeyError::Unavailable`] is worth retrying.
#[async_trait]
pub trait KeyService: Send + Sync {
    /// Creates the tenant's key (idempotent: an existing key is kept); for
    /// a tenant's own key, checks instead that Tenantry can use it: it
    /// exists, is enabled, symmetric and `ENCRYPT_DECRYPT`, and a data key
    /// generated under it decrypts again.
    ///
    /// Errors: [`KeyError::Destroyed`] if the tenant's key was destroyed (a
    /// destroyed tenant is never given a fresh key); [`KeyError::Unusable`]
    /// naming what the check of a tenant's own key found; `Unavailable`.
    async fn create_key(&self, key: &TenantKey) -> Result<(), KeyError>;

    /// Encrypts `plaintext` (any length, empty included) for the tenant:
    /// AES-256-GCM under a data key, the data key wrapped by the tenant's key
    /// with the encryption context `{tenant_id: <tenant>}`.
    ///
    /// Returns the self-describing sealed bytes (crate docs, "Sealed format":
    /// version byte, wrapping, wrapped data key, 96-bit nonce, body and
    /// 16-byte tag), about `plaintext.len()` + 32 + the wrapped key
    /// (60 bytes locally, about 180 under KMS).
    ///
    /// Errors: `NotFound` (no key created), `Destroyed`, `Unavailable`;
    /// for a tenant's own key, `Disabled` and `Unusable`.
    async fn seal_with(&self, key: &TenantKey, plaintext: &[u8]) -> Result<Vec<u8>, KeyError>;

    /// Decrypts what [`seal_with`](Self::seal_with) returned for the same tenant.
    ///
    /// Errors: `Corrupt` (malformed, tampered, sealed for another tenant or
    /// by the other key service), `Destroyed`, `NotFound`, `Unavailable`;
    /// for a tenant's own key, `Disabled` (naming tenant and key) and `Unusable`.
    async fn open_with(&self, key: &TenantKey, sealed: &[u8]) -> Result<Vec<u8>, KeyError>;

    /// Crypto-shredding: destroys the tenant's key; afterwards [`open_with`](Self::open_with)
    /// fails with [`KeyError::Destroyed`] for everything sealed before, and
    /// `seal_with` and `create_key` fail the same way. Idempotent; a tenant
    /// without a key is `Ok`.
    ///
    /// A tenant's own key is not Tenantry's to destroy: it is left as it is
    /// (never disabled, never scheduled for deletion) and the tenant's data
    /// keys are forgotten instead — cached ones dropped, and the service
    /// refuses the tenant from then on (`Destroyed`).
    ///
    /// Errors: `Unavailable` (then call again: every step is idempotent).
    async fn destroy_key(&self, key: &TenantKey) -> Result<(), KeyError>;

    /// [`create_key`](Self::create_key) of Tenantry's own key of `tenant`.
    async fn create_tenant_key(&self, tenant: &TenantId) -> Result<(), KeyError> {
        self.create_key(&TenantKey::managed(tenant.clone())).await
    }

    /// [`seal_with`](Self::seal_with) Tenantry's own key of `tenant`.
    async fn seal(&self, tenant: &TenantId, plaintext: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.seal_with(&TenantKey::managed(tenant.clone()), plaintext)
            .await
    }

    /// [`open_with`](Self::open_with) Tenantry's own key of `tenant`.
    async fn open(&self, tenant: &TenantId, sealed: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.open_with(&TenantKey::managed(tenant.clone()), sealed)
            .await
    }

    /// [`destroy_key`](Self::destroy_key) of Tenantry's own key of `tenant`.
    async fn destroy_tenant_key(&self, tenant: &TenantId) -> Result<(), KeyError> {
        self.destroy_key(&TenantKey::managed(tenant.clone())).await
    }
}
