//! The provisioner's step effects: the local adapters (`tenantry-store`)
//! plus the two effects outside the database — app lifecycle callbacks
//! (`tenantry-apps`, steps 7 and the uninstalls of deactivation and
//! destruction) and the tenant's data key (`tenantry-keys`: created with the
//! tenant, destroyed at destruction — crypto-shredding).
//!
//! Each external call carries the step's idempotency key (`<saga id>:<step>:<app>`),
//! so a redelivered step repeats the same call and the app can drop it.

use std::sync::Arc;
use tenantry_apps::{AppClient, AppError, LifecycleCall};
use tenantry_keys::{KeyError, KeyService};
use tenantry_sagas::saga::ProductSpec;
use tenantry_sagas::{
    SagaKind, SagaState, Step, StepEffects, StepError, StepOutput, TransactionalEffects,
};
use tenantry_store::{LocalEffects, StoreError, StoreWork};

/// Step effects of the provisioner.
#[derive(Clone)]
pub struct Effects {
    /// Database effects.
    pub local: LocalEffects,
    /// App lifecycle callbacks.
    pub apps: AppClient,
    /// Tenant data keys.
    pub keys: Arc<dyn KeyService>,
    /// Domain of site hosts (for the callbacks' `site_host`).
    pub site_domain: String,
    /// The store, for sealed product-database credentials.
    pub store: tenantry_store::Store,
}

fn app_error(error: AppError) -> StepError {
    if error.is_retryable() {
        StepError::retryable(error.to_string())
    } else {
        StepError::permanent(error.to_string())
    }
}

fn key_error(error: KeyError) -> StepError {
    if error.is_retryable() {
        StepError::retryable(error.to_string())
    } else {
        StepError::permanent(error.to_string())
    }
}

impl Effects {
    /// Calls `installed` (or `uninstalled`) for every app of `product`.
    async fn callbacks(
        &self,
        saga: &SagaState,
        step: Step,
        product: &ProductSpec,
        installed: bool,
    ) -> Result<(), StepError> {
        let site_host = format!("{}.{}", saga.spec.tenant.site, self.site_domain);
        let call = |app: &tenantry_schemas::AppKey| LifecycleCall {
            app: app.clone(),
            tenant_id: saga.tenant_id.clone(),
            product: product.product.clone(),
            site_host: site_host.clone(),
            idempotency_key: format!("{}:{}:{app}", saga.saga_id, step.name()),
        };
        for (done, app) in product.apps.iter().enumerate() {
            let result = if installed {
                self.apps.installed(&call(app)).await
            } else {
                self.apps.uninstalled(&call(app)).await
            };
            if let Err(error) = result {
                let error = app_error(error);
                // A step is all or nothing: installs of this attempt that
                // went through are undone before the failure is reported (the
                // saga's compensation only covers completed steps; a retry
                // installs them again — apps dedupe per event and key).
                if installed {
                    for app in &product.apps[..done] {
                        self.apps.uninstalled(&call(app)).await.map_err(app_error)?;
                    }
                }
                return Err(error);
            }
        }
        Ok(())
    }

    /// Envelope-encrypts the product database's credentials under the
    /// tenant's key and stores them with the database (DESIGN.md, "Envelope
    /// encryption"); destroying the key makes them unreadable. Idempotent:
    /// sealed once per database.
    async fn seal_credentials(
        &self,
        saga: &SagaState,
        shard: &str,
        database: &str,
    ) -> Result<(), StepError> {
        let sealed = self.sealed_credentials(saga, shard, database).await?;
        self.store
            .store_credentials(&sealed, database)
            .await
            .map_err(credentials_error)
    }

    /// New credentials for `database`, sealed under the tenant's key, hex.
    async fn sealed_credentials(
        &self,
        saga: &SagaState,
        shard: &str,
        database: &str,
    ) -> Result<String, StepError> {
        let secret = format!(
            "{{\"shard\":\"{shard}\",\"database\":\"{database}\",\"user\":\"{database}\",\"password\":\"{}\"}}",
            uuid::Uuid::new_v4().simple()
        );
        let sealed = self
            .keys
            .seal(&saga.tenant_id, secret.as_bytes())
            .await
            .map_err(key_error)?;
        Ok(hex::encode(sealed))
    }

    /// Seals credentials for the databases a step created (step 6) or moved
    /// to (`switch_placement`).
    async fn seal_after(
        &self,
        saga: &SagaState,
        step: Step,
        output: &StepOutput,
    ) -> Result<(), StepError> {
        match (step, saga.kind) {
            (Step::ProvisionDatabase, SagaKind::ProvisionProduct) => {
                if let Some(placed) = output.database() {
                    self.seal_credentials(saga, &placed.shard, &placed.database)
                        .await?;
                }
            }
            (Step::SwitchPlacement, _) => {
                for placed in output.moved().values() {
                    self.seal_credentials(saga, &placed.shard, &placed.database)
                        .await?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn product(saga: &SagaState) -> Result<&ProductSpec, StepError> {
        saga.spec
            .product
            .as_ref()
            .ok_or_else(|| StepError::permanent("product saga without a product"))
    }
}

impl TransactionalEffects<StoreWork> for Effects {
    /// Whether `step` can run inside the runner's transaction: its effect is
    /// SQL on the store (with step 6's DDL and sealed credentials when product
    /// databases are schemas of the store), apart from creating the tenant's
    /// key (idempotent, done first). App callbacks are not.
    fn runs_in_work(&self, saga: &SagaState, step: Step) -> bool {
        let callbacks = step == Step::InstallApps
            && saga
                .spec
                .product
                .as_ref()
                .is_some_and(|p| !p.apps.is_empty());
        self.local.runs_in_transaction(saga, step) && !callbacks
    }

    /// Runs `step` in the runner's unit of work `work` (see
    /// [`Effects::runs_in_work`]).
    async fn execute_in(
        &self,
        work: &mut StoreWork,
        saga: &SagaState,
        step: Step,
    ) -> Result<StepOutput, StepError> {
        if (step, saga.kind) == (Step::RecordLicence, SagaKind::ProvisionTenant) {
            self.keys
                .create_tenant_key(&saga.tenant_id)
                .await
                .map_err(key_error)?;
        }
        let output = self.local.execute_in(work, saga, step).await?;
        if (step, saga.kind) == (Step::ProvisionDatabase, SagaKind::ProvisionProduct)
            && let Some(placed) = output.database()
        {
            let sealed = self
                .sealed_credentials(saga, &placed.shard, &placed.database)
                .await?;
            work.store_credentials(&sealed, &placed.database)
                .await
                .map_err(credentials_error)?;
        }
        Ok(output)
    }
}

impl StepEffects for Effects {
    async fn execute(&self, saga: &SagaState, step: Step) -> Result<StepOutput, StepError> {
        match (step, saga.kind) {
            (Step::RecordLicence, SagaKind::ProvisionTenant) => {
                self.keys
                    .create_tenant_key(&saga.tenant_id)
                    .await
                    .map_err(key_error)?;
            }
            (Step::InstallApps, SagaKind::ProvisionProduct) => {
                self.callbacks(saga, step, Self::product(saga)?, true)
                    .await?;
            }
            (Step::UninstallApps, _) => {
                self.callbacks(saga, step, Self::product(saga)?, false)
                    .await?;
            }
            (Step::DeactivateAllProducts, _) => {
                for product in &saga.spec.products {
                    self.callbacks(saga, step, product, false).await?;
                }
            }
            (Step::ShredDataKey, _) => {
                self.keys
                    .destroy_tenant_key(&saga.tenant_id)
                    .await
                    .map_err(key_error)?;
            }
            _ => {}
        }
        let output = self.local.execute(saga, step).await?;
        if let Err(error) = self.seal_after(saga, step, &output).await {
            // The local effect committed but its sealed credentials did not:
            // undo the effect so that the step's retry (or the saga's
            // compensation, which does not include a failed step) starts from
            // nothing instead of a database without credentials.
            let mut done = saga.clone();
            done.results.insert(step, output);
            if let Err(undo) = self.local.compensate(&done, step).await {
                tracing::error!(saga_id = %saga.saga_id, step = step.name(), reason = %undo,
                    "Undoing a step whose credentials could not be sealed failed; an operator must look.");
            }
            return Err(error);
        }
        Ok(output)
    }

    async fn compensate(&self, saga: &SagaState, step: Step) -> Result<(), StepError> {
        match (step, saga.kind) {
            (Step::InstallApps, SagaKind::ProvisionProduct) => {
                self.callbacks(saga, step, Self::product(saga)?, false)
                    .await?;
            }
            (Step::UninstallApps, _) => {
                self.callbacks(saga, step, Self::product(saga)?, true)
                    .await?;
            }
            // The tenant's key is kept when its creation is compensated: a
            // destroyed key can never be re-created (crypto-shredding is
            // final), and an operator's retry must be able to create it again.
            _ => {}
        }
        self.local.compensate(saga, step).await
    }
}

/// Storing sealed credentials failed: the store is unreachable or failed;
/// retrying may succeed.
fn credentials_error(error: StoreError) -> StepError {
    StepError::retryable(format!("storing sealed credentials: {error}"))
}
