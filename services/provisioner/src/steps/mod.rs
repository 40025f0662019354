//! The seven provisioning steps as they run inside a batch's unit of work:
//! one file per step, each with whether it can run there and its effect,
//! decided in memory against what the batch loaded ([`Work`]) and written
//! as rows of [`EffectRows`] that the store commits with the batch.
//!
//! A step that cannot run in a batch (an app callback, a product database
//! that is a file) or fails there makes the batch stop
//! before its record: that record runs on its own, a step at a time, with
//! the step's retries and the saga's compensations
//! ([`crate::runner::SagaRunner::drive`]). Both forms write the same rows
//! and return the same output.

mod create_identity;
mod create_site;
mod install_apps;
mod place_region;
mod provision_database;
mod record_licence;
mod store_metadata;

use tenantry_sagas::steps::residency_guard;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tenantry_keys::{KeyError, KeyService};
use tenantry_sagas::saga::ProductSpec;
use tenantry_sagas::work::{EffectRows, Loaded, Shard};
use tenantry_sagas::{SagaKind, SagaState, Step, StepError, StepOutput};

/// Adds a shard to a region when every shard there is full (step 6):
/// `<region>-shard-<number>`, committed on its own, outside the batch — a
/// new database server is a control-plane change, not a row of the batch.
/// Must be idempotent: the same number returns the same shard.
pub trait ShardProvisioner: Send + Sync {
    /// Adds (or finds) shard `number` of `region`.
    fn add_shard<'a>(
        &'a self,
        region: &'a str,
        number: usize,
    ) -> Pin<Box<dyn Future<Output = Result<Shard, StepError>> + Send + 'a>>;
}

/// Shards as rows of the store, each holding `capacity` databases.
pub struct StoreShards {
    /// The store.
    pub store: tenantry_store::Store,
    /// Product databases per new shard.
    pub capacity: i64,
}

impl ShardProvisioner for StoreShards {
    fn add_shard<'a>(
        &'a self,
        region: &'a str,
        number: usize,
    ) -> Pin<Box<dyn Future<Output = Result<Shard, StepError>> + Send + 'a>> {
        Box::pin(async move {
            self.store
                .add_shard(region, number, self.capacity)
                .await
                .map_err(StepError::from)
        })
    }
}

/// What the in-batch steps need besides the batch.
#[derive(Clone)]
pub struct StepContext {
    /// Domain of site hosts: a site `acme` gets host `acme.<domain>`.
    pub site_domain: String,
    /// Tenant data keys: created at step 1, sealing database credentials at step 6.
    pub keys: Arc<dyn KeyService>,
    /// Whether product databases can be created in the batch's transaction
    /// (PostgreSQL schemas; not SQLite files).
    pub transactional_databases: bool,
    /// Where a full region gets its next shard.
    pub shards: Arc<dyn ShardProvisioner>,
}

/// A batch as the steps see it: what it loaded, updated by the steps that
/// ran before, and the rows they write.
pub struct Work<'a> {
    /// Loaded facts, kept current as steps run.
    pub loaded: &'a mut Loaded,
    /// Rows to write.
    pub effects: &'a mut EffectRows,
}

/// Whether `step` of `saga` can run in a batch.
pub fn runs_in_batch(ctx: &StepContext, saga: &SagaState, step: Step) -> bool {
    let provisioning = matches!(
        saga.kind,
        SagaKind::ProvisionTenant | SagaKind::ProvisionProduct
    );
    provisioning
        && match step {
            Step::RecordLicence
            | Step::CreateSite
            | Step::PlaceRegion
            | Step::StoreMetadata
            | Step::CreateIdentity => true,
            Step::ProvisionDatabase => provision_database::runs_in_batch(ctx, saga),
            Step::InstallApps => install_apps::runs_in_batch(saga),
            _ => false,
        }
}

/// Runs `step` of `saga` in the batch. The caller checked [`runs_in_batch`].
///
/// # Errors
/// The step's; the batch then stops before this record.
pub async fn run_in_batch(
    ctx: &StepContext,
    work: &mut Work<'_>,
    saga: &SagaState,
    step: Step,
) -> Result<StepOutput, StepError> {
    match step {
        Step::RecordLicence => record_licence::run(ctx, work, saga).await,
        Step::CreateSite => create_site::run(ctx, work, saga),
        Step::PlaceRegion => place_region::run(work, saga),
        Step::StoreMetadata => store_metadata::run(work, saga),
        Step::CreateIdentity => create_identity::run(work, saga),
        Step::ProvisionDatabase => provision_database::run(ctx, work, saga).await,
        Step::InstallApps => install_apps::run(work, saga),
        other => Err(StepError::permanent(format!(
            "step {} does not run in a batch",
            other.name()
        ))),
    }
}

fn product_of(saga: &SagaState) -> Result<&ProductSpec, StepError> {
    saga.spec
        .product
        .as_ref()
        .ok_or_else(|| StepError::permanent("product saga without a product"))
}

fn key_error(error: KeyError) -> StepError {
    if error.is_retryable() {
        StepError::retryable(error.to_string())
    } else {
        StepError::permanent(error.to_string())
    }
}
