//! The KMS key a region's shard instances are encrypted under.

use aws_sdk_kms::types::{KeySpec, KeyUsageType, Tag};

use crate::RdsError;
use crate::instances::RdsShards;
use tenantry_aws::describe;

/// Alias of the storage key of a Tenantry region: `alias/tenantry/rds/<region>`.
pub(crate) fn storage_alias(region: &str) -> String {
    format!("alias/tenantry/rds/{region}")
}

impl RdsShards {
    /// The ARN of the KMS key encrypting the storage of `region`'s shard
    /// instances, in that region: the key under
    /// `alias/tenantry/rds/<region>`, created (symmetric, encrypt/decrypt,
    /// tagged `tenantry:region`) when the alias is missing. Idempotent; of
    /// two concurrent creators, the loser's key is left unaliased and the
    /// winner's is returned.
    ///
    /// # Errors
    /// [`RdsError`] from KMS.
    pub async fn storage_key(&self, region: tenantry_schemas::Region) -> Result<String, RdsError> {
        if let Some(arn) = self.cached_key(region) {
            return Ok(arn);
        }
        let kms = self.kms(region);
        let alias = storage_alias(region.as_str());
        let unavailable = |what: &str, error: String| {
            RdsError::Unavailable(format!("KMS {what} {alias}: {error}"))
        };
        let described = kms.describe_key().key_id(&alias).send().await;
        let arn = match described {
            Ok(out) => out
                .key_metadata()
                .map(|m| m.arn().unwrap_or(m.key_id()).to_owned()),
            Err(error) if is_not_found(&error) => None,
            Err(error) => {
                return Err(unavailable("DescribeKey", describe("KMS", &error)));
            }
        };
        let arn = match arn {
            Some(arn) => arn,
            None => {
                let created = kms
                    .create_key()
                    .description(format!(
                        "Tenantry: storage of the shard instances of region {region}"
                    ))
                    .key_usage(KeyUsageType::EncryptDecrypt)
                    .key_spec(KeySpec::SymmetricDefault)
                    .tags(
                        Tag::builder()
                            .tag_key("tenantry:region")
                            .tag_value(region.as_str())
                            .build()
                            .expect("tag is complete"),
                    )
                    .send()
                    .await
                    .map_err(|e| unavailable("CreateKey", describe("KMS", &e)))?;
                let metadata = created.key_metadata().ok_or_else(|| {
                    RdsError::Unavailable(format!("KMS CreateKey for {alias}: no key metadata"))
                })?;
                let key_id = metadata.key_id().to_owned();
                let arn = metadata.arn().unwrap_or(&key_id).to_owned();
                match kms
                    .create_alias()
                    .alias_name(&alias)
                    .target_key_id(&key_id)
                    .send()
                    .await
                {
                    Ok(_) => arn,
                    // Another creator won: use its key.
                    Err(error)
                        if error
                            .as_service_error()
                            .is_some_and(|e| e.is_already_exists_exception()) =>
                    {
                        let out = kms
                            .describe_key()
                            .key_id(&alias)
                            .send()
                            .await
                            .map_err(|e| unavailable("DescribeKey", describe("KMS", &e)))?;
                        out.key_metadata()
                            .map(|m| m.arn().unwrap_or(m.key_id()).to_owned())
                            .ok_or_else(|| {
                                RdsError::Unavailable(format!(
                                    "KMS DescribeKey {alias}: no key metadata"
                                ))
                            })?
                    }
                    Err(error) => {
                        return Err(unavailable("CreateAlias", describe("KMS", &error)));
                    }
                }
            }
        };
        self.cache_key(region, &arn);
        Ok(arn)
    }
}

fn is_not_found<R>(
    error: &aws_sdk_kms::error::SdkError<aws_sdk_kms::operation::describe_key::DescribeKeyError, R>,
) -> bool {
    error
        .as_service_error()
        .is_some_and(|e| e.is_not_found_exception())
}
