//! Shard instances and their snapshots.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_sdk_rds::types::{DbInstance, Tag};
use tenantry_schemas::Region;
use tokio::time::Instant;

use crate::error::{REFUSED, classify};
use crate::{RdsConfig, RdsError, aws_region, instance_identifier, snapshot_identifier};

/// A shard's RDS instance as `DescribeDBInstances` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardInstance {
    /// `DBInstanceIdentifier` ([`instance_identifier`](crate::instance_identifier)).
    pub identifier: String,
    /// AWS region it lives in.
    pub aws_region: String,
    /// `DBInstanceStatus`: `creating`, `available`, …
    pub status: String,
    /// `host:port` of its endpoint, once RDS has assigned one.
    pub endpoint: Option<String>,
    /// Whether it runs a standby in a second availability zone.
    pub multi_az: bool,
    /// Whether its storage is encrypted.
    pub storage_encrypted: bool,
    /// The KMS key its storage is encrypted under.
    pub kms_key_id: Option<String>,
    /// Its tags, key → value.
    pub tags: Vec<(String, String)>,
}

impl ShardInstance {
    fn from_sdk(instance: &DbInstance, aws_region: &str) -> Self {
        Self {
            identifier: instance
                .db_instance_identifier()
                .unwrap_or_default()
                .to_owned(),
            aws_region: aws_region.to_owned(),
            status: instance.db_instance_status().unwrap_or_default().to_owned(),
            endpoint: instance.endpoint().and_then(|e| {
                e.address()
                    .map(|host| format!("{host}:{}", e.port().unwrap_or(5432)))
            }),
            multi_az: instance.multi_az().unwrap_or(false),
            storage_encrypted: instance.storage_encrypted().unwrap_or(false),
            kms_key_id: instance.kms_key_id().map(str::to_owned),
            tags: instance
                .tag_list()
                .iter()
                .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
                .collect(),
        }
    }
}

/// Statuses an instance leaves by itself on the way to `available`
/// (RDS "Viewing Amazon RDS DB instance status"); any other status than
/// these and `available` is refused.
const TRANSIENT: &[&str] = &[
    "creating",
    "backing-up",
    "modifying",
    "configuring-enhanced-monitoring",
    "configuring-iam-database-auth",
    "configuring-log-exports",
    "rebooting",
    "renaming",
    "resetting-master-credentials",
    "starting",
    "storage-optimization",
    "upgrading",
    "maintenance",
];

/// The RDS control plane of shards: instances and snapshots in the AWS
/// region of each data-residency region. Cheap to share (`Arc`); clients
/// are made once per region.
pub struct RdsShards {
    config: RdsConfig,
    rds: Mutex<HashMap<Region, aws_sdk_rds::Client>>,
    kms: Mutex<HashMap<Region, aws_sdk_kms::Client>>,
    storage_keys: Mutex<HashMap<Region, String>>,
}

impl std::fmt::Debug for RdsShards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RdsShards")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl RdsShards {
    /// A control plane reached as `config` says.
    pub fn new(config: RdsConfig) -> Self {
        Self {
            config,
            rds: Mutex::default(),
            kms: Mutex::default(),
            storage_keys: Mutex::default(),
        }
    }

    /// The settings it was made with.
    pub fn config(&self) -> &RdsConfig {
        &self.config
    }

    /// The RDS client of `region`'s AWS region.
    pub fn rds(&self, region: Region) -> aws_sdk_rds::Client {
        let mut clients = self.rds.lock().expect("client map is never poisoned");
        clients
            .entry(region)
            .or_insert_with(|| {
                let mut config = aws_sdk_rds::Config::builder()
                    .behavior_version(aws_sdk_rds::config::BehaviorVersion::latest())
                    .region(aws_sdk_rds::config::Region::new(aws_region(region)))
                    .credentials_provider(self.config.account.credentials("tenantry-rds"))
                    .retry_config(self.config.retry())
                    .timeout_config(self.config.timeouts());
                if let Some(url) = &self.config.account.endpoint_url {
                    config = config.endpoint_url(url);
                }
                aws_sdk_rds::Client::from_conf(config.build())
            })
            .clone()
    }

    pub(crate) fn kms(&self, region: Region) -> aws_sdk_kms::Client {
        let mut clients = self.kms.lock().expect("client map is never poisoned");
        clients
            .entry(region)
            .or_insert_with(|| {
                let mut config = aws_sdk_kms::Config::builder()
                    .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
                    .region(aws_sdk_kms::config::Region::new(aws_region(region)))
                    .credentials_provider(self.config.account.credentials("tenantry-rds"))
                    .retry_config(self.config.retry())
                    .timeout_config(self.config.timeouts());
                if let Some(url) = &self.config.account.endpoint_url {
                    config = config.endpoint_url(url);
                }
                aws_sdk_kms::Client::from_conf(config.build())
            })
            .clone()
    }

    pub(crate) fn cached_key(&self, region: Region) -> Option<String> {
        let keys = self.storage_keys.lock().expect("key map is never poisoned");
        keys.get(&region).cloned()
    }

    pub(crate) fn cache_key(&self, region: Region, arn: &str) {
        let mut keys = self.storage_keys.lock().expect("key map is never poisoned");
        keys.insert(region, arn.to_owned());
    }

    /// The instance of shard `shard_id`, or `None` when it has none.
    ///
    /// # Errors
    /// [`RdsError::Unavailable`] when RDS does not answer.
    pub async fn describe_instance(
        &self,
        region: Region,
        shard_id: &str,
    ) -> Result<Option<ShardInstance>, RdsError> {
        let identifier = instance_identifier(&self.config.prefix, shard_id);
        let described = self
            .rds(region)
            .describe_db_instances()
            .db_instance_identifier(&identifier)
            .send()
            .await;
        match described {
            Ok(out) => Ok(out
                .db_instances()
                .first()
                .map(|i| ShardInstance::from_sdk(i, aws_region(region)))),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_db_instance_not_found_fault()) =>
            {
                Ok(None)
            }
            Err(error) => Err(classify(
                "DescribeDBInstances",
                &identifier,
                &error,
                REFUSED,
            )),
        }
    }

    /// The instance of shard `shard_id` of `region`, `available`: found, or
    /// created with `CreateDBInstance` — PostgreSQL, Multi-AZ, storage
    /// encrypted under the region's key ([`RdsShards::storage_key`]),
    /// tagged `tenantry:region`, `tenantry:shard`, `tenantry:capacity` —
    /// under [`instance_identifier`]`(shard_id)`, so a retry, or a second
    /// worker, finds the instance instead of making another. Then waits up
    /// to [`RdsConfig::available_timeout`] for `available`.
    ///
    /// # Errors
    /// [`RdsError::Unavailable`] when RDS does not answer or the instance
    /// is still on its way when the wait ends (a later call goes on
    /// waiting); [`RdsError::Rejected`] when RDS refuses the request or
    /// the instance is in a state it does not leave by itself (`failed`,
    /// `deleting`, `storage-full`, …).
    pub async fn ensure_instance(
        &self,
        region: Region,
        shard_id: &str,
        capacity: i64,
    ) -> Result<ShardInstance, RdsError> {
        if let Some(found) = self.describe_instance(region, shard_id).await? {
            return self.wait_available(region, shard_id, found).await;
        }
        let identifier = instance_identifier(&self.config.prefix, shard_id);
        let key = self.storage_key(region).await?;
        let spec = &self.config.instance;
        let tag = |key: &str, value: &str| Tag::builder().key(key).value(value).build();
        let created = self
            .rds(region)
            .create_db_instance()
            .db_instance_identifier(&identifier)
            .db_instance_class(&spec.class)
            .engine(&spec.engine)
            .allocated_storage(spec.storage_gib)
            .master_username(&spec.master_username)
            .manage_master_user_password(true)
            .multi_az(true)
            .storage_encrypted(true)
            .kms_key_id(&key)
            .publicly_accessible(false)
            .tags(tag("tenantry:region", region.as_str()))
            .tags(tag("tenantry:shard", shard_id))
            .tags(tag("tenantry:capacity", &capacity.to_string()))
            .send()
            .await;
        let instance = match created {
            Ok(out) => out
                .db_instance()
                .map(|i| ShardInstance::from_sdk(i, aws_region(region))),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_db_instance_already_exists_fault()) =>
            {
                None
            }
            Err(error) => return Err(classify("CreateDBInstance", &identifier, &error, REFUSED)),
        };
        tracing::info!(%region, shard = shard_id, instance = %identifier, "Shard instance created.");
        let instance = match instance {
            Some(instance) => instance,
            None => self
                .describe_instance(region, shard_id)
                .await?
                .ok_or_else(|| {
                    RdsError::Unavailable(format!(
                        "instance {identifier} exists by CreateDBInstance, not by DescribeDBInstances"
                    ))
                })?,
        };
        self.wait_available(region, shard_id, instance).await
    }

    async fn wait_available(
        &self,
        region: Region,
        shard_id: &str,
        mut instance: ShardInstance,
    ) -> Result<ShardInstance, RdsError> {
        let deadline = Instant::now() + self.config.available_timeout;
        loop {
            match instance.status.as_str() {
                "available" => return Ok(instance),
                status if TRANSIENT.contains(&status) => {}
                status => {
                    return Err(RdsError::Rejected(format!(
                        "instance {} of shard {shard_id} is {status}, not available",
                        instance.identifier
                    )));
                }
            }
            if Instant::now() + self.config.poll_interval > deadline {
                return Err(RdsError::Unavailable(format!(
                    "instance {} of shard {shard_id} is still {} after {:?}",
                    instance.identifier, instance.status, self.config.available_timeout
                )));
            }
            tokio::time::sleep(self.config.poll_interval).await;
            instance = self
                .describe_instance(region, shard_id)
                .await?
                .ok_or_else(|| {
                    RdsError::Rejected(format!(
                        "instance {} of shard {shard_id} disappeared while it was awaited",
                        instance.identifier
                    ))
                })?;
        }
    }

    /// Takes snapshot `name` of shard `shard_id`'s instance
    /// (`CreateDBSnapshot` under [`snapshot_identifier`]`(name)`, tagged
    /// like the instance) and waits up to
    /// [`RdsConfig::available_timeout`] for it; returns its identifier.
    /// Idempotent: an existing snapshot of that identifier is awaited.
    ///
    /// # Errors
    /// As [`RdsShards::ensure_instance`]; `Rejected` when the shard has no
    /// instance.
    pub async fn snapshot(
        &self,
        region: Region,
        shard_id: &str,
        name: &str,
    ) -> Result<String, RdsError> {
        let identifier = snapshot_identifier(&self.config.prefix, name);
        let instance = instance_identifier(&self.config.prefix, shard_id);
        let tag = |key: &str, value: &str| Tag::builder().key(key).value(value).build();
        let created = self
            .rds(region)
            .create_db_snapshot()
            .db_snapshot_identifier(&identifier)
            .db_instance_identifier(&instance)
            .tags(tag("tenantry:region", region.as_str()))
            .tags(tag("tenantry:shard", shard_id))
            .tags(tag("tenantry:snapshot", name))
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_db_snapshot_already_exists_fault()) => {}
            Err(error) => {
                let refused: Vec<&str> = REFUSED
                    .iter()
                    .copied()
                    .chain(["DBInstanceNotFound"])
                    .collect();
                return Err(classify("CreateDBSnapshot", &identifier, &error, &refused));
            }
        }
        let deadline = Instant::now() + self.config.available_timeout;
        loop {
            let status = self.snapshot_status(region, &identifier).await?;
            match status.as_deref() {
                Some("available") => return Ok(identifier),
                Some("creating") | Some("copying") => {}
                Some(other) => {
                    return Err(RdsError::Rejected(format!(
                        "snapshot {identifier} of shard {shard_id} is {other}, not available"
                    )));
                }
                None => {
                    return Err(RdsError::Unavailable(format!(
                        "snapshot {identifier} of shard {shard_id} is not listed yet"
                    )));
                }
            }
            if Instant::now() + self.config.poll_interval > deadline {
                return Err(RdsError::Unavailable(format!(
                    "snapshot {identifier} of shard {shard_id} is still being taken after {:?}",
                    self.config.available_timeout
                )));
            }
            tokio::time::sleep(self.config.poll_interval).await;
        }
    }

    /// The status of snapshot `identifier`, `None` when there is none.
    ///
    /// # Errors
    /// [`RdsError::Unavailable`] when RDS does not answer.
    pub async fn snapshot_status(
        &self,
        region: Region,
        identifier: &str,
    ) -> Result<Option<String>, RdsError> {
        let described = self
            .rds(region)
            .describe_db_snapshots()
            .db_snapshot_identifier(identifier)
            .send()
            .await;
        match described {
            Ok(out) => Ok(out
                .db_snapshots()
                .first()
                .map(|s| s.status().unwrap_or_default().to_owned())),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_db_snapshot_not_found_fault()) =>
            {
                Ok(None)
            }
            Err(error) => Err(classify("DescribeDBSnapshots", identifier, &error, REFUSED)),
        }
    }

    /// Deletes snapshot `name` (the undo of [`RdsShards::snapshot`]).
    /// Idempotent: a missing snapshot is no error.
    ///
    /// # Errors
    /// [`RdsError`] from RDS.
    pub async fn delete_snapshot(&self, region: Region, name: &str) -> Result<(), RdsError> {
        let identifier = snapshot_identifier(&self.config.prefix, name);
        let deleted = self
            .rds(region)
            .delete_db_snapshot()
            .db_snapshot_identifier(&identifier)
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_db_snapshot_not_found_fault()) =>
            {
                Ok(())
            }
            Err(error) => Err(classify("DeleteDBSnapshot", &identifier, &error, REFUSED)),
        }
    }
}
