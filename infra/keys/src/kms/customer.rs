//! A tenant's own KMS key ("bring your own key"): the check at creation and
//! the state check before each use. The key belongs to the customer (usually
//! another AWS account, named by ARN); Tenantry only calls `DescribeKey`,
//! `GenerateDataKey` and `Decrypt` on it.

use super::events::{KmsOperation, observed};
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::operation::describe_key::DescribeKeyOutput;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, KeySpec, KeyState, KeyUsageType};
use tenantry_schemas::{KmsKeyRef, TenantId};

use super::errors::{code, is_transient};
use super::{KmsKeyService, context};
use crate::{KeyError, TenantKey};

impl KmsKeyService {
    /// The check at creation: `DescribeKey` finds the key `Enabled`,
    /// `ENCRYPT_DECRYPT` and `SYMMETRIC_DEFAULT`; a data key generated under
    /// it with the tenant's encryption context decrypts to the same bytes
    /// (which proves the key policy or grants let Tenantry use it).
    ///
    /// Errors: [`KeyError::Unusable`] naming the first check that failed;
    /// `Unavailable` for a transport error or a transient KMS answer.
    pub(super) async fn verify_customer_key(
        &self,
        key: &TenantKey,
        own: &KmsKeyRef,
    ) -> Result<(), KeyError> {
        let tenant = &key.tenant;
        let unusable = |reason: String| KeyError::Unusable {
            tenant: tenant.clone(),
            key: own.clone(),
            reason,
        };
        let described = observed(
            KmsOperation::DescribeKey,
            self.client.describe_key().key_id(own.as_str()).send(),
        )
        .await
        .map_err(|e| at_creation(key, own, "DescribeKey", e))?;
        let (state, usage, spec) = metadata(described)?;
        if state != KeyState::Enabled {
            return Err(unusable(format!("its key state is {state}, not Enabled")));
        }
        if usage != KeyUsageType::EncryptDecrypt {
            return Err(unusable(format!(
                "its key usage is {usage}, not ENCRYPT_DECRYPT"
            )));
        }
        if spec != KeySpec::SymmetricDefault {
            return Err(unusable(format!(
                "its key spec is {spec}, not SYMMETRIC_DEFAULT"
            )));
        }
        let generated = observed(
            KmsOperation::GenerateDataKey,
            self.client
                .generate_data_key()
                .key_id(own.as_str())
                .key_spec(DataKeySpec::Aes256)
                .set_encryption_context(Some(context(tenant)))
                .send(),
        )
        .await
        .map_err(|e| at_creation(key, own, "GenerateDataKey", e))?;
        let (Some(plaintext), Some(wrapped)) = (generated.plaintext, generated.ciphertext_blob)
        else {
            return Err(KeyError::Unavailable(
                "KMS GenerateDataKey returned no Plaintext or CiphertextBlob".into(),
            ));
        };
        let decrypted = observed(
            KmsOperation::Decrypt,
            self.client
                .decrypt()
                .key_id(own.as_str())
                .ciphertext_blob(Blob::new(wrapped.into_inner()))
                .set_encryption_context(Some(context(tenant)))
                .send(),
        )
        .await
        .map_err(|e| at_creation(key, own, "Decrypt", e))?;
        if decrypted.plaintext.as_ref().map(Blob::as_ref) != Some(plaintext.as_ref()) {
            return Err(unusable(
                "a data key generated under it did not decrypt to the same bytes".into(),
            ));
        }
        Ok(())
    }

    /// Before each seal and open: `Ok` only if the key is `Enabled`.
    ///
    /// Errors: [`KeyError::Disabled`] for any other state (its owner
    /// disabled it, or scheduled its deletion, which can still be
    /// cancelled); `Unusable` if KMS no longer finds it; else as
    /// [`classify_for`](super::errors::classify_for).
    pub(super) async fn check_customer_key(
        &self,
        tenant: &TenantId,
        own: &KmsKeyRef,
    ) -> Result<(), KeyError> {
        let key = TenantKey::customer(tenant.clone(), own.clone());
        let described = observed(
            KmsOperation::DescribeKey,
            self.client.describe_key().key_id(own.as_str()).send(),
        )
        .await
        .map_err(|e| super::errors::classify_for(&key, "DescribeKey", e))?;
        let (state, _, _) = metadata(described)?;
        if state == KeyState::Enabled {
            return Ok(());
        }
        Err(KeyError::Disabled {
            tenant: tenant.clone(),
            key: own.clone(),
            state: state_name(&state),
        })
    }

    /// Refuses a tenant whose own key was forgotten by this service.
    pub(super) fn refuse_forgotten(&self, tenant: &TenantId) -> Result<(), KeyError> {
        if self.lock_forgotten().contains(tenant) {
            return Err(KeyError::Destroyed(tenant.clone()));
        }
        Ok(())
    }

    /// Forgets `tenant`: every later call for it is refused.
    pub(super) fn forget(&self, tenant: &TenantId) {
        self.lock_forgotten().insert(tenant.clone());
    }

    fn lock_forgotten(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<TenantId>> {
        // One insert or lookup per lock: poisoning cannot leave it half-changed.
        self.forgotten
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// State, usage and spec of a described key. Without a `KeyState`, only an
/// explicit `Enabled: true` counts (fail closed).
fn metadata(out: DescribeKeyOutput) -> Result<(KeyState, KeyUsageType, KeySpec), KeyError> {
    let meta = out
        .key_metadata
        .ok_or_else(|| KeyError::Unavailable("KMS DescribeKey returned no KeyMetadata".into()))?;
    let fallback = if meta.enabled {
        KeyState::Enabled
    } else {
        KeyState::Disabled
    };
    Ok((
        meta.key_state.unwrap_or(fallback),
        meta.key_usage.unwrap_or(KeyUsageType::EncryptDecrypt),
        meta.key_spec.unwrap_or(KeySpec::SymmetricDefault),
    ))
}

/// `Disabled` → `disabled`, `PendingDeletion` → `pending deletion`.
fn state_name(state: &KeyState) -> String {
    match state {
        KeyState::Disabled => "disabled".into(),
        KeyState::PendingDeletion => "pending deletion".into(),
        KeyState::PendingImport => "pending import".into(),
        other => format!("in state {other}"),
    }
}

/// A failed call of the creation check: a transport error or a transient
/// answer may pass (`Unavailable`); any other answer — not found, disabled,
/// access denied, a wrong key type — is the key's fault (`Unusable`).
fn at_creation<E, R>(
    key: &TenantKey,
    own: &KmsKeyRef,
    operation: &str,
    error: SdkError<E, R>,
) -> KeyError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match code(&error) {
        Some(code) if !is_transient(code) => KeyError::Unusable {
            tenant: key.tenant.clone(),
            key: own.clone(),
            reason: format!(
                "KMS {operation}: {code}: {}",
                error.message().unwrap_or("no message")
            ),
        },
        _ => super::errors::classify(&key.tenant, operation, error),
    }
}
