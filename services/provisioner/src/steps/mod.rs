//! Every saga step, a file each: what it does, how it is undone, how it is
//! retried and bounded, and whether it can run inside a batch's unit of work
//! — one [`StepHandler`] per [`Step`], found by [`handler`]. Adding a step
//! is its file, a line in [`handler`], and the saga's definition in
//! `tenantry-sagas` (the [`Step`] with its name and whether it is a pivot,
//! and [`tenantry_sagas::SagaKind::steps`]).
//!
//! A step has two forms:
//! - **In a batch** ([`StepHandler::run_in_batch`], provisioning steps only):
//!   decided in memory against what the batch loaded ([`Work`]) and written
//!   as rows of [`EffectRows`] that the store commits with the batch. A step
//!   that cannot run there (an app callback, a product database that is a
//!   file) or fails makes the batch stop before its record.
//! - **On its own** ([`StepHandler::execute`]): rows written through
//!   [`StepStore`] in one transaction — the step's own, recorded under its
//!   idempotency key ([`crate::effects::Effects`]), or the saga runner's,
//!   shared by consecutive steps and the saga's state
//!   ([`StepHandler::runs_in_work`]). What leaves the store is done
//!   before that transaction ([`StepHandler::prepare`]: app callbacks, data
//!   keys) or after it commits ([`StepHandler::complete`]: DDL that is not
//!   transactional); both are idempotent and repeated with a retry.
//!
//! Both forms write the same rows and return the same output. Compensation
//! ([`StepHandler::compensate`], then [`StepHandler::compensated`] outside
//! the store) reads what to undo from the step's recorded output.

mod copy_data;
mod create_identity;
mod create_site;
mod create_target_databases;
mod deactivate_all_products;
mod disable_access;
mod enable_access;
mod end_licence;
mod install_apps;
mod place_region;
mod provision_database;
mod record_licence;
mod release_host;
mod remove_identity;
mod remove_product_group;
mod retire_database;
mod retire_source_databases;
mod shards;
mod shred_data_key;
mod snapshot_database;
mod store_metadata;
mod switch_placement;
mod uninstall_apps;
mod update_licence;

pub(crate) use shards::place_on_shard;
pub use shards::{ShardProvisioner, StoreShards};

use async_trait::async_trait;
use std::sync::Arc;
use tenantry_apps::{AppClient, AppError, LifecycleCall};
use tenantry_keys::{KeyError, KeyService, TenantKey};
use tenantry_sagas::saga::ProductSpec;
use tenantry_sagas::step_store::StepStore;
use tenantry_sagas::steps::residency_guard;
use tenantry_sagas::work::{EffectRows, Loaded};
use tenantry_sagas::{SagaState, Step, StepError, StepOutput, StepPolicy};
use tenantry_store::product_db::MAX_NAME_LEN;
use tenantry_store::{ProductDatabases, StoreError};

/// One saga step. Every method has the saga as input, with the outputs of
/// its earlier steps in `saga.results`.
#[async_trait]
pub trait StepHandler: Send + Sync {
    /// Retries and timeout; the default suits a step that only writes rows
    /// of the store (10 s per attempt).
    fn policy(&self) -> StepPolicy {
        StepPolicy::default()
    }

    /// Whether this step of `saga` can run in a batch's unit of work.
    fn runs_in_batch(&self, _cx: &StepContext, _saga: &SagaState) -> bool {
        false
    }

    /// Runs the step in a batch; the caller checked
    /// [`StepHandler::runs_in_batch`].
    ///
    /// # Errors
    /// The step's; the batch then stops before this record.
    async fn run_in_batch(
        &self,
        _cx: &StepContext,
        _work: &mut Work<'_>,
        saga: &SagaState,
    ) -> Result<StepOutput, StepError> {
        Err(StepError::permanent(format!(
            "a step of a {} saga does not run in a batch",
            saga.kind.as_str()
        )))
    }

    /// Whether the step can run in a transaction the saga runner owns,
    /// committed with the saga's new state: [`StepHandler::prepare`] is
    /// quick and [`StepHandler::complete`] has nothing to do.
    fn runs_in_work(&self, _cx: &StepContext, _saga: &SagaState) -> bool {
        false
    }

    /// What the step does outside the store before its rows are written
    /// (app callbacks, the tenant's data key). Idempotent.
    ///
    /// # Errors
    /// The external system's, retryable when it may pass.
    async fn prepare(&self, _cx: &StepContext, _saga: &SagaState) -> Result<(), StepError> {
        Ok(())
    }

    /// Writes the step's rows in `store`'s transaction and returns its output.
    ///
    /// # Errors
    /// A business rule (permanent) or the store's.
    async fn execute(
        &self,
        cx: &StepContext,
        store: &mut dyn StepStore,
        saga: &SagaState,
    ) -> Result<StepOutput, StepError>;

    /// What the step does outside the store after its rows committed (DDL
    /// on product databases that is not transactional). Idempotent: run
    /// again when a retry finds the step's effect recorded.
    ///
    /// # Errors
    /// The database server's.
    async fn complete(
        &self,
        _cx: &StepContext,
        _saga: &SagaState,
        _output: &StepOutput,
    ) -> Result<(), StepError> {
        Ok(())
    }

    /// Undoes the step's rows in `store`'s transaction. The step completed;
    /// its output is `saga.results[step]`. Compensating twice is a no-op.
    /// A pivot ([`tenantry_sagas::Compensation::Pivot`]) is never undone.
    ///
    /// # Errors
    /// The store's.
    async fn compensate(
        &self,
        _cx: &StepContext,
        _store: &mut dyn StepStore,
        _saga: &SagaState,
    ) -> Result<(), StepError> {
        Ok(())
    }

    /// Undoes what the step did outside the store, after
    /// [`StepHandler::compensate`] committed. Idempotent.
    ///
    /// # Errors
    /// The external system's.
    async fn compensated(&self, _cx: &StepContext, _saga: &SagaState) -> Result<(), StepError> {
        Ok(())
    }
}

/// The handler of `step`.
pub fn handler(step: Step) -> &'static dyn StepHandler {
    match step {
        Step::RecordLicence => &record_licence::RecordLicence,
        Step::CreateSite => &create_site::CreateSite,
        Step::PlaceRegion => &place_region::PlaceRegion,
        Step::StoreMetadata => &store_metadata::StoreMetadata,
        Step::CreateIdentity => &create_identity::CreateIdentity,
        Step::ProvisionDatabase => &provision_database::ProvisionDatabase,
        Step::InstallApps => &install_apps::InstallApps,
        Step::DisableAccess => &disable_access::DisableAccess,
        Step::EnableAccess => &enable_access::EnableAccess,
        Step::UpdateLicence => &update_licence::UpdateLicence,
        Step::UninstallApps => &uninstall_apps::UninstallApps,
        Step::RemoveProductGroup => &remove_product_group::RemoveProductGroup,
        Step::SnapshotDatabase => &snapshot_database::SnapshotDatabase,
        Step::RetireDatabase => &retire_database::RetireDatabase,
        Step::EndLicence => &end_licence::EndLicence,
        Step::DeactivateAllProducts => &deactivate_all_products::DeactivateAllProducts,
        Step::ReleaseHost => &release_host::ReleaseHost,
        Step::RemoveIdentity => &remove_identity::RemoveIdentity,
        Step::ShredDataKey => &shred_data_key::ShredDataKey,
        Step::CreateTargetDatabases => &create_target_databases::CreateTargetDatabases,
        Step::CopyData => &copy_data::CopyData,
        Step::SwitchPlacement => &switch_placement::SwitchPlacement,
        Step::RetireSourceDatabases => &retire_source_databases::RetireSourceDatabases,
    }
}

/// The servers product databases live on: DDL outside the store's
/// transaction, each operation idempotent (creating an existing database
/// or dropping a missing one succeeds).
#[async_trait]
pub trait DatabaseServers: Send + Sync {
    /// Whether a database can be created in a transaction of the store
    /// ([`StepStore::create_database`]).
    fn transactional(&self) -> bool;
    /// Creates database `name`, empty.
    async fn create(&self, name: &str) -> Result<(), StoreError>;
    /// Drops database `name`.
    async fn drop_database(&self, name: &str) -> Result<(), StoreError>;
    /// Copies database `source` to a new database `snapshot`.
    async fn snapshot(&self, source: &str, snapshot: &str) -> Result<(), StoreError>;
    /// Renames database `name` to `archived_<name>`.
    async fn archive(&self, name: &str) -> Result<(), StoreError>;
    /// Copies every table of `source` into `target`; the number of tables.
    /// [`StoreError::Missing`] when `source` does not exist.
    async fn copy_into(&self, source: &str, target: &str) -> Result<usize, StoreError>;
}

#[async_trait]
impl DatabaseServers for ProductDatabases {
    fn transactional(&self) -> bool {
        ProductDatabases::transactional(self)
    }

    async fn create(&self, name: &str) -> Result<(), StoreError> {
        ProductDatabases::create(self, name).await
    }

    async fn drop_database(&self, name: &str) -> Result<(), StoreError> {
        ProductDatabases::drop_database(self, name).await
    }

    async fn snapshot(&self, source: &str, snapshot: &str) -> Result<(), StoreError> {
        ProductDatabases::snapshot(self, source, snapshot).await
    }

    async fn archive(&self, name: &str) -> Result<(), StoreError> {
        ProductDatabases::archive(self, name).await
    }

    async fn copy_into(&self, source: &str, target: &str) -> Result<usize, StoreError> {
        ProductDatabases::copy_into(self, source, target).await
    }
}

/// Settings of the steps.
#[derive(Debug, Clone)]
pub struct EffectsConfig {
    /// Domain of site hosts: a site `acme` gets host `acme.<domain>`.
    pub site_domain: String,
    /// Product databases per shard before a new shard is created (step 6).
    pub shard_capacity: i64,
    /// How long a destroyed tenant's host stays unusable, in milliseconds.
    pub host_quarantine_ms: i64,
    /// What happens to a deactivated product's database after its snapshot.
    pub retention: Retention,
}

/// Retention of a retired product database (after a deactivation's
/// snapshot, or a move's copy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// Drop it: only the snapshot remains.
    Drop,
    /// Keep it, renamed `archived_<name>`.
    Archive,
}

/// What the steps need besides the saga and the store.
#[derive(Clone)]
pub struct StepContext {
    /// Settings.
    pub config: EffectsConfig,
    /// Tenant data keys: created at step 1, sealing database credentials at
    /// step 6 and after a move, destroyed at destruction (crypto-shredding).
    pub keys: Arc<dyn KeyService>,
    /// App lifecycle callbacks (step 7, deactivation, destruction).
    pub apps: AppClient,
    /// Where product databases are created, copied, snapshot and retired.
    pub databases: Arc<dyn DatabaseServers>,
    /// Where a full region gets its next shard during a batch.
    pub shards: Arc<dyn ShardProvisioner>,
}

impl StepContext {
    /// Whether product databases can be created in a transaction of the
    /// store (PostgreSQL schemas; not SQLite files).
    pub fn transactional_databases(&self) -> bool {
        self.databases.transactional()
    }

    /// A context for unit tests: sites under `domain`, no apps, product
    /// databases that exist only as names (transactional, like schemas).
    #[cfg(test)]
    pub(crate) fn for_tests(
        domain: &str,
        keys: Arc<dyn KeyService>,
        shards: Arc<dyn ShardProvisioner>,
    ) -> Self {
        let apps = tenantry_apps::AppsConfig {
            apps: Vec::new(),
            egress_allow: Vec::new(),
            issuer: "tenantry".into(),
            timeout: std::time::Duration::from_secs(1),
        };
        Self {
            config: EffectsConfig {
                site_domain: domain.into(),
                shard_capacity: 100,
                host_quarantine_ms: 0,
                retention: Retention::Drop,
            },
            keys,
            apps: AppClient::new(apps).expect("an empty apps configuration is valid"),
            databases: Arc::new(test_support::NamesOnly {
                transactional: true,
            }),
            shards,
        }
    }

    /// The site host of `site`: `<site>.<domain>`.
    pub fn site_host(&self, site: &str) -> String {
        format!("{site}.{}", self.config.site_domain)
    }
}

/// A batch as the steps see it: what it loaded, updated by the steps that
/// ran before, and the rows they write.
pub struct Work<'a> {
    /// Loaded facts, kept current as steps run.
    pub loaded: &'a mut Loaded,
    /// Rows to write.
    pub effects: &'a mut EffectRows,
}

pub(crate) fn product_of(saga: &SagaState) -> Result<&ProductSpec, StepError> {
    saga.spec
        .product
        .as_ref()
        .ok_or_else(|| StepError::permanent("product saga without a product"))
}

/// The key that wraps the data keys of `saga`'s tenant: its own KMS key
/// when `tenant_created` named one (carried in every saga's spec), else
/// Tenantry's.
pub(crate) fn tenant_key(saga: &SagaState) -> TenantKey {
    TenantKey {
        tenant: saga.tenant_id.clone(),
        customer_key: saga.spec.tenant.kms_key.clone(),
    }
}

/// A tenant's own key disabled by its owner blocks the saga (parked, not
/// compensated, resumed by `tenantry sagas retry` once the key is enabled).
pub(crate) fn key_error(error: KeyError) -> StepError {
    if error.is_blocked() {
        StepError::blocked(error.to_string())
    } else if matches!(error, KeyError::Unavailable(_)) {
        StepError::unavailable(error.to_string())
    } else if error.is_retryable() {
        StepError::retryable(error.to_string())
    } else {
        StepError::permanent(error.to_string())
    }
}

fn app_error(error: AppError) -> StepError {
    if error.is_retryable() {
        StepError::retryable(error.to_string())
    } else {
        StepError::permanent(error.to_string())
    }
}

/// Calls `installed` (or `uninstalled`) for every app of `product`, each
/// with the step's idempotency key and the app's name, so a repeated step
/// repeats the same calls and the app can drop them.
///
/// A call is all or nothing: installs of this attempt that went through are
/// undone before a failure is reported (the saga's compensation only covers
/// completed steps; a retry installs them again). The failure reported is
/// the first app's, with every undo that failed after it.
async fn callbacks(
    cx: &StepContext,
    saga: &SagaState,
    step: Step,
    product: &ProductSpec,
    installed: bool,
) -> Result<(), StepError> {
    let site_host = cx.site_host(saga.spec.tenant.site.as_str());
    let call = |app: &tenantry_schemas::AppKey| LifecycleCall {
        app: app.clone(),
        tenant_id: saga.tenant_id.clone(),
        product: product.product.clone(),
        site_host: site_host.clone(),
        idempotency_key: format!("{}:{app}", step.idempotency_key(saga)),
    };
    for (done, app) in product.apps.iter().enumerate() {
        let result = if installed {
            cx.apps.installed(&call(app)).await
        } else {
            cx.apps.uninstalled(&call(app)).await
        };
        if let Err(error) = result {
            let mut error = app_error(error);
            if installed {
                // Every undo is tried; one that fails is named with the
                // failure that caused it, so the operator sees both and
                // which app may still count the product as installed.
                for app in &product.apps[..done] {
                    if let Err(undo) = cx.apps.uninstalled(&call(app)).await {
                        error.reason.push_str(&format!(
                            "; undoing the install of {app} failed too ({}): {app} may still be installed",
                            app_error(undo).reason
                        ));
                    }
                }
            }
            return Err(error);
        }
    }
    Ok(())
}

/// New credentials for `database` on `shard`, sealed under the tenant's
/// data key, hex (DESIGN.md, "Envelope encryption"): destroying the key
/// makes them unreadable.
async fn sealed_credentials(
    cx: &StepContext,
    saga: &SagaState,
    shard: &str,
    database: &str,
) -> Result<String, StepError> {
    let secret = format!(
        "{{\"shard\":\"{shard}\",\"database\":\"{database}\",\"user\":\"{database}\",\"password\":\"{}\"}}",
        uuid::Uuid::new_v4().simple()
    );
    let sealed = cx
        .keys
        .seal_with(&tenant_key(saga), secret.as_bytes())
        .await
        .map_err(key_error)?;
    Ok(hex::encode(sealed))
}

/// A product's users group and the permission it holds:
/// (`<product>-users`, `<product>:use`).
fn product_group(product: &str) -> (String, String) {
    (format!("{product}-users"), format!("{product}:use"))
}

/// Name of the snapshot a deactivation takes of `database`:
/// `snap_<database>_<first 8 hex of the saga id>`, cut to the name limit.
fn snapshot_name(database: &str, saga: &SagaState) -> String {
    let suffix = &saga.saga_id.simple().to_string()[..8];
    let base = format!("snap_{database}");
    let cut = base.len().min(MAX_NAME_LEN - 9);
    format!("{}_{suffix}", &base[..cut])
}

/// Drops or archives `database` per [`EffectsConfig::retention`]. Idempotent.
async fn retire(cx: &StepContext, database: &str) -> Result<(), StepError> {
    match cx.config.retention {
        Retention::Drop => cx.databases.drop_database(database).await?,
        Retention::Archive => cx.databases.archive(database).await?,
    }
    Ok(())
}

/// The process clock, Unix ms.
fn now_ms() -> i64 {
    tenantry_store::now_ms()
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::DatabaseServers;
    use async_trait::async_trait;
    use tenantry_store::StoreError;

    /// Product databases that exist only as names: every operation
    /// succeeds. `transactional`: whether they count as schemas of the
    /// store (created in its transaction) or as files.
    pub(crate) struct NamesOnly {
        pub(crate) transactional: bool,
    }

    #[async_trait]
    impl DatabaseServers for NamesOnly {
        fn transactional(&self) -> bool {
            self.transactional
        }

        async fn create(&self, _name: &str) -> Result<(), StoreError> {
            Ok(())
        }

        async fn drop_database(&self, _name: &str) -> Result<(), StoreError> {
            Ok(())
        }

        async fn snapshot(&self, _source: &str, _snapshot: &str) -> Result<(), StoreError> {
            Ok(())
        }

        async fn archive(&self, _name: &str) -> Result<(), StoreError> {
            Ok(())
        }

        async fn copy_into(&self, _source: &str, _target: &str) -> Result<usize, StoreError> {
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::handler;
    use std::time::Duration;
    use tenantry_sagas::{SagaKind, Step};

    /// Steps that only write rows get 10 s per attempt; DDL, app callbacks
    /// and a move's copy get longer; every step retries five times.
    #[test]
    fn each_step_is_bounded_by_its_own_timeout() {
        let secs = |step: Step| handler(step).policy().timeout;
        let long = [
            (Step::ProvisionDatabase, 60),
            (Step::SnapshotDatabase, 60),
            (Step::RetireDatabase, 60),
            (Step::DeactivateAllProducts, 60),
            (Step::CreateTargetDatabases, 60),
            (Step::RetireSourceDatabases, 60),
            (Step::CopyData, 600),
            (Step::InstallApps, 30),
            (Step::UninstallApps, 30),
        ];
        let kinds = [
            SagaKind::ProvisionTenant,
            SagaKind::SuspendProduct,
            SagaKind::UnsuspendProduct,
            SagaKind::UpdateLicence,
            SagaKind::DeactivateProduct,
            SagaKind::DestroyTenant,
            SagaKind::MoveTenant,
        ];
        for step in kinds.iter().flat_map(|kind| kind.steps()) {
            let expected = long
                .iter()
                .find(|(s, _)| s == step)
                .map_or(10, |(_, secs)| *secs);
            assert_eq!(
                secs(*step),
                Duration::from_secs(expected),
                "{}",
                step.name()
            );
            assert_eq!(handler(*step).policy().max_attempts, 5, "{}", step.name());
        }
    }
}
