//! Key lifecycle calls of [`KmsKeyService`]: describe, create, shred.

use super::events::{KmsOperation, observed};
use aws_sdk_kms::types::{KeySpec, KeyState, KeyUsageType, Tag};
use tenantry_schemas::TenantId;

use super::errors::{classify, code};
use super::{KmsKeyService, TENANT_CONTEXT_KEY};
use crate::KeyError;

impl KmsKeyService {
    /// The key id and state behind the tenant's alias; `None` if there is no alias.
    pub(super) async fn describe(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<(String, KeyState)>, KeyError> {
        let described = observed(
            KmsOperation::DescribeKey,
            self.client
                .describe_key()
                .key_id(Self::alias(tenant))
                .send(),
        )
        .await;
        match described {
            Ok(out) => {
                let meta = out.key_metadata.ok_or_else(|| {
                    KeyError::Unavailable("KMS DescribeKey returned no KeyMetadata".into())
                })?;
                // Without a KeyState, only an explicit `Enabled: true` counts (fail closed).
                let fallback = if meta.enabled {
                    KeyState::Enabled
                } else {
                    KeyState::Disabled
                };
                let state = meta.key_state.unwrap_or(fallback);
                Ok(Some((meta.key_id, state)))
            }
            Err(e) if code(&e) == Some("NotFoundException") => Ok(None),
            Err(e) => Err(classify(tenant, "DescribeKey", e)),
        }
    }

    pub(super) async fn create(&self, tenant: &TenantId) -> Result<(), KeyError> {
        let created = observed(
            KmsOperation::CreateKey,
            self.client
                .create_key()
                .description(format!("Tenantry data-key wrapping key of tenant {tenant}"))
                .key_usage(KeyUsageType::EncryptDecrypt)
                .key_spec(KeySpec::SymmetricDefault)
                .tags(
                    Tag::builder()
                        .tag_key(TENANT_CONTEXT_KEY)
                        .tag_value(tenant.as_str())
                        .build()
                        .map_err(|e| KeyError::Unavailable(format!("KMS tag: {e}")))?,
                )
                .send(),
        )
        .await
        .map_err(|e| classify(tenant, "CreateKey", e))?;
        let key_id = created
            .key_metadata
            .map(|meta| meta.key_id)
            .ok_or_else(|| KeyError::Unavailable("KMS CreateKey returned no KeyMetadata".into()))?;
        let aliased = observed(
            KmsOperation::CreateAlias,
            self.client
                .create_alias()
                .alias_name(Self::alias(tenant))
                .target_key_id(&key_id)
                .send(),
        )
        .await;
        match aliased {
            Ok(_) => Ok(()),
            Err(e) if code(&e) == Some("AlreadyExistsException") => {
                // A concurrent creator won: keep its key, retire ours.
                tracing::debug!(%tenant, %key_id, "Lost the alias race; scheduling the spare KMS key for deletion.");
                if let Err(error) = self.schedule_deletion(tenant, &key_id).await {
                    // Harmless: the spare key has no alias and is tagged with the tenant.
                    tracing::warn!(%tenant, %key_id, %error, "Spare KMS key not scheduled for deletion.");
                }
                Ok(())
            }
            // The key stays without an alias (tagged tenant_id); the retry creates another.
            Err(e) => Err(classify(tenant, "CreateAlias", e)),
        }
    }

    pub(super) async fn schedule_deletion(
        &self,
        tenant: &TenantId,
        key_id: &str,
    ) -> Result<(), KeyError> {
        observed(
            KmsOperation::ScheduleKeyDeletion,
            self.client
                .schedule_key_deletion()
                .key_id(key_id)
                .pending_window_in_days(self.settings.deletion_window_days)
                .send(),
        )
        .await
        .map(|_| ())
        .map_err(|e| classify(tenant, "ScheduleKeyDeletion", e))
    }

    /// `DisableKey` (unless already disabled), then `ScheduleKeyDeletion`.
    /// A key found pending deletion — before or during — is already shredded.
    pub(super) async fn shred(&self, tenant: &TenantId) -> Result<(), KeyError> {
        let (key_id, state) = match self.describe(tenant).await? {
            None | Some((_, KeyState::PendingDeletion)) => return Ok(()),
            Some(found) => found,
        };
        if state != KeyState::Disabled {
            let disabled = observed(
                KmsOperation::DisableKey,
                self.client.disable_key().key_id(&key_id).send(),
            )
            .await;
            match disabled.map_err(|e| classify(tenant, "DisableKey", e)) {
                Ok(_) | Err(KeyError::Destroyed(_)) => {}
                Err(e) => return Err(e),
            }
        }
        match self.schedule_deletion(tenant, &key_id).await {
            // KMSInvalidStateException: a concurrent destroy scheduled it first.
            Ok(()) | Err(KeyError::Destroyed(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Disabled or pending deletion: Tenantry disables a key only to shred it.
pub(super) fn is_destroyed(state: &KeyState) -> bool {
    matches!(
        state,
        KeyState::Disabled | KeyState::PendingDeletion | KeyState::PendingReplicaDeletion
    )
}
