//! SDK errors → [`KeyError`], by the KMS error code (API reference, "Errors").

use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use tenantry_schemas::TenantId;

use crate::{KeyError, TenantKey};
use tenantry_aws::describe;

/// Classifies a failed KMS call (after the SDK's retries) of `operation` for `tenant`:
///
/// | code | error |
/// |---|---|
/// | `NotFoundException` | `NotFound` |
/// | `DisabledException`, `KMSInvalidStateException` | `Destroyed` (the key is disabled or pending deletion) |
/// | `InvalidCiphertextException`, `IncorrectKeyException` | `Corrupt` |
/// | anything else, and every transport error | `Unavailable` (retryable) |
///
/// `AccessDeniedException` stays retryable: an operator can fix a policy, and
/// the saga parks the tenant once its own retries are spent. (moto also
/// answers it for a `Decrypt` whose `KeyId` is not the ciphertext's key,
/// where real KMS answers `IncorrectKeyException`.)
pub(crate) fn classify<E, R>(tenant: &TenantId, operation: &str, error: SdkError<E, R>) -> KeyError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let Some(code) = code(&error) else {
        // Transport: connection refused, timeout, unparsable response.
        return KeyError::Unavailable(format!("KMS {operation}: {}", describe("KMS", &error)));
    };
    match code {
        "NotFoundException" => KeyError::NotFound(tenant.clone()),
        "DisabledException" | "KMSInvalidStateException" => KeyError::Destroyed(tenant.clone()),
        "InvalidCiphertextException" | "IncorrectKeyException" => KeyError::Corrupt(format!(
            "KMS {operation} refused the wrapped data key ({code}): not sealed under tenant {tenant}'s key and context"
        )),
        _ => KeyError::Unavailable(format!(
            "KMS {operation}: {code}: {}",
            error.message().unwrap_or("no message")
        )),
    }
}

/// The error code of a failed call, if KMS answered one.
pub(crate) fn code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Option<&str> {
    match error {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    }
}

/// [`classify`] for a call under `key`. For a tenant's own key the state
/// errors mean something else: the key is its owner's, so
/// `DisabledException` and `KMSInvalidStateException` are
/// [`KeyError::Disabled`] (the owner can enable it again), not `Destroyed`;
/// `NotFoundException` is [`KeyError::Unusable`] (the key is gone from its
/// account, or its ARN names none), and `AccessDeniedException` is
/// `Disabled` too (its owner revoked Tenantry's access).
pub(crate) fn classify_for<E, R>(
    key: &TenantKey,
    operation: &str,
    error: SdkError<E, R>,
) -> KeyError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let Some(own) = &key.customer_key else {
        return classify(&key.tenant, operation, error);
    };
    match code(&error) {
        Some(code @ ("DisabledException" | "KMSInvalidStateException")) => KeyError::Disabled {
            tenant: key.tenant.clone(),
            key: own.clone(),
            state: format!("not enabled (KMS {operation}: {code})"),
        },
        Some("NotFoundException") => KeyError::Unusable {
            tenant: key.tenant.clone(),
            key: own.clone(),
            reason: format!("KMS {operation} found no such key (NotFoundException)"),
        },
        // The owner took Tenantry's access away (key policy, grant): only
        // they can give it back, as with a disabled key.
        Some("AccessDeniedException") => KeyError::Disabled {
            tenant: key.tenant.clone(),
            key: own.clone(),
            state: format!("not usable by Tenantry (KMS {operation}: AccessDeniedException)"),
        },
        _ => classify(&key.tenant, operation, error),
    }
}

/// Whether KMS answered `code` for a passing condition (throttling, its own
/// fault, a dependency's timeout), which the SDK retried and a later call
/// may not meet.
pub(crate) fn is_transient(code: &str) -> bool {
    matches!(
        code,
        "ThrottlingException"
            | "KMSInternalException"
            | "DependencyTimeoutException"
            | "LimitExceededException"
    )
}
