//! The one error type of every [`KeyService`](crate::KeyService).

use tenantry_schemas::TenantId;

/// Why a key operation failed, classified for the saga's retry policy.
///
/// `Destroyed` and `Corrupt` are permanent: retrying cannot succeed.
/// `Unavailable` is retryable (network, throttling, a KMS outage, a
/// misconfigured permission an operator can fix). `NotFound` is permanent for
/// this attempt: the tenant's key was never created (the provisioning saga
/// creates it before anything is sealed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The tenant's key was destroyed (crypto-shredding, or a KMS key found
    /// disabled or pending deletion): nothing sealed for the tenant can be
    /// opened again, and nothing new can be sealed.
    #[error("the key of tenant {0} was destroyed (crypto-shredding)")]
    Destroyed(TenantId),
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
}
