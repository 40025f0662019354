//! The one error type of every [`KeyService`](crate::KeyService).

use tenantry_schemas::{KmsKeyRef, TenantId};

/// Why a key operation failed, classified for the saga's retry policy.
///
/// `Destroyed` and `Corrupt` are permanent: retrying cannot succeed.
/// `Unavailable` is retryable (network, throttling, a KMS outage, a
/// misconfigured permission an operator can fix). `NotFound` is permanent for
/// this attempt: the tenant's key was never created (the provisioning saga
/// creates it before anything is sealed). `Unusable` is permanent: a tenant's
/// own key failed a check. `Disabled` is neither: a tenant's own key was
/// disabled by its owner, outside Tenantry, and only its owner can enable it
/// again — retrying soon is pointless, giving up for good is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The tenant's key was destroyed (crypto-shredding, or a KMS key of
    /// Tenantry's found disabled or pending deletion), or the tenant's own
    /// key was forgotten at its destruction: nothing sealed for the tenant
    /// can be opened again, and nothing new can be sealed.
    #[error("the key of tenant {0} was destroyed (crypto-shredding)")]
    Destroyed(TenantId),
    /// The tenant's own KMS key is disabled (or pending deletion) in its
    /// owner's account: nothing of the tenant can be sealed or opened until
    /// the owner enables it again.
    #[error(
        "the KMS key {key} of tenant {tenant} is {state}: the tenant's secrets cannot be sealed or opened until the key's owner enables it"
    )]
    Disabled {
        /// The tenant.
        tenant: TenantId,
        /// Its own key.
        key: KmsKeyRef,
        /// The key state KMS reported (`disabled`, `pending deletion`…).
        state: String,
    },
    /// The tenant's own KMS key cannot wrap its data keys: missing, not
    /// enabled at creation, not a symmetric `ENCRYPT_DECRYPT` key, or not
    /// usable by Tenantry (access denied); `reason` says which.
    #[error("the KMS key {key} of tenant {tenant} cannot wrap its data keys: {reason}")]
    Unusable {
        /// The tenant.
        tenant: TenantId,
        /// Its own key.
        key: KmsKeyRef,
        /// What the check found.
        reason: String,
    },
    /// The tenant has no key: `create_tenant_key` was never called for it.
    #[error("tenant {0} has no key")]
    NotFound(TenantId),
    /// The sealed bytes are malformed, were tampered with, or were sealed for
    /// another tenant or by another key service; the text says which check failed.
    #[error("sealed data rejected: {0}")]
    Corrupt(String),
    /// The key store could not be reached or refused for now (network,
    /// `ThrottlingException` after the retry budget, a local I/O error).
    #[error("key service unavailable: {0}")]
    Unavailable(String),
}

impl KeyError {
    /// `true` only for [`KeyError::Unavailable`]: the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    /// `true` only for [`KeyError::Disabled`]: the same call succeeds once
    /// the key's owner enables the key, which may take any time.
    pub fn is_blocked(&self) -> bool {
        matches!(self, Self::Disabled { .. })
    }
}
