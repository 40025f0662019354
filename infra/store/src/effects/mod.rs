//! Local adapters of the seven provisioning steps, on the store's database.
//!
//! Every effect carries an idempotency key derived from (saga id, step),
//! recorded in `step_effects` in the effect's own transaction: re-running a
//! step whose effect already happened returns the recorded result without
//! acting again. Effects are also keyed by their natural key (tenant, product,
//! host…) and written with `ON CONFLICT`, and compensating twice is a no-op
//! ([`StepEffects`] contract).

mod lifecycle;
mod provisioning;
mod relocation;

use crate::product_db::{ProductDatabases, database_name};
use crate::store::{Store, StoreError};
use crate::unit_of_work::StoreWork;
use sqlx::{Any, Transaction};
use tenantry_sagas::saga::ProductSpec;
use tenantry_sagas::steps::residency_guard;
use tenantry_sagas::{SagaKind, SagaState, Step, StepEffects, StepError, StepOutput};

/// Settings of the local adapters.
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

/// Retention of a deactivated product's database (after the snapshot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// Drop it: only the snapshot remains.
    Drop,
    /// Keep it, renamed `archived_<name>`.
    Archive,
}

/// The seven steps on the local database.
#[derive(Debug, Clone)]
pub struct LocalEffects {
    store: Store,
    databases: ProductDatabases,
    config: EffectsConfig,
}

impl From<StoreError> for StepError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Database(_) | StoreError::Unreachable { .. } | StoreError::Conflict(_) => {
                StepError::retryable(e.to_string())
            }
            other => StepError::permanent(other.to_string()),
        }
    }
}

pub(crate) type Tx = Transaction<'static, Any>;

pub(crate) fn product_of(saga: &SagaState) -> Result<&ProductSpec, StepError> {
    saga.spec
        .product
        .as_ref()
        .ok_or_else(|| StepError::permanent("product saga without a product"))
}

impl LocalEffects {
    /// Builds the adapters on `store`, creating product databases in `databases`.
    pub fn new(store: Store, databases: ProductDatabases, config: EffectsConfig) -> Self {
        Self {
            store,
            databases,
            config,
        }
    }

    async fn begin(&self) -> Result<Tx, StepError> {
        Ok(self.store.pool().begin().await.map_err(StoreError::from)?)
    }

    async fn commit<T>(tx: Tx, value: T) -> Result<T, StepError> {
        tx.commit().await.map_err(StoreError::from)?;
        Ok(value)
    }

    /// Runs the step unless its idempotency key is recorded, in which case
    /// the recorded result is returned (the product database DDL, which runs
    /// after its bookkeeping commits, is repeated: it is idempotent).
    async fn execute_once(&self, saga: &SagaState, step: Step) -> Result<StepOutput, StepError> {
        let key = idempotency_key(saga, step);
        let recorded: Option<(String,)> =
            sqlx::query_as("SELECT result FROM step_effects WHERE idempotency_key = $1")
                .bind(&key)
                .fetch_optional(self.store.pool())
                .await
                .map_err(StoreError::from)?;
        if let Some((result,)) = recorded {
            let output: StepOutput = serde_json::from_str(&result).map_err(StoreError::from)?;
            lifecycle::redo_ddl(self, saga, step, &output).await?;
            relocation::redo_ddl(self, step, &output).await?;
            return Ok(output);
        }
        self.run(saga, step, &key).await
    }

    async fn run(&self, saga: &SagaState, step: Step, key: &str) -> Result<StepOutput, StepError> {
        let tenant = saga.tenant_id.as_str();
        let mut tx = self.begin().await?;
        if self.runs_in_transaction(saga, step) {
            let output = provisioning::run_in(self, &mut tx, saga, step).await?;
            record_effect(&mut tx, key, &output).await?;
            return Self::commit(tx, output).await;
        }
        match (step, saga.kind) {
            (Step::ProvisionDatabase, SagaKind::ProvisionProduct) => {
                let product = product_of(saga)?.product.as_str();
                check_residency(&mut tx, saga).await?;
                let name = database_name(tenant, product);
                let (shard, name) = self
                    .place_database(&mut tx, tenant, product, &name, placed_region(saga))
                    .await?;
                let output = StepOutput::new().with_database(shard, &name);
                record_effect(&mut tx, key, &output).await?;
                let output = Self::commit(tx, output).await?;
                // DDL after the bookkeeping commits; idempotent, so a crash in
                // between is repaired by the re-run.
                self.databases.create(&name).await?;
                Ok(output)
            }
            (
                Step::CreateTargetDatabases
                | Step::CopyData
                | Step::SwitchPlacement
                | Step::RetireSourceDatabases,
                _,
            ) => relocation::run(self, tx, saga, step, key).await,
            (step, _) => lifecycle::run(self, tx, saga, step, key).await,
        }
    }

    /// Whether product databases are created inside the caller's
    /// transaction (schemas on the store's PostgreSQL; not SQLite files).
    pub fn transactional_databases(&self) -> bool {
        self.databases.transactional()
    }

    /// Whether `step` of `saga` is only SQL on the store, so that it can run
    /// in a transaction the caller owns ([`LocalEffects::execute_in`]). Step 6
    /// qualifies when product databases are schemas on the store's database
    /// (transactional DDL); SQLite files do not.
    pub fn runs_in_transaction(&self, saga: &SagaState, step: Step) -> bool {
        if (step, saga.kind) == (Step::ProvisionDatabase, SagaKind::ProvisionProduct) {
            return self.databases.transactional();
        }
        matches!(
            (step, saga.kind),
            (
                Step::RecordLicence
                    | Step::CreateSite
                    | Step::PlaceRegion
                    | Step::StoreMetadata
                    | Step::CreateIdentity
                    | Step::InstallApps,
                SagaKind::ProvisionTenant | SagaKind::ProvisionProduct
            ) | (Step::ProvisionDatabase, SagaKind::ProvisionTenant)
        )
    }

    /// Runs a step for which [`LocalEffects::runs_in_transaction`] holds in
    /// the caller's unit of work `work`, so that the runner commits several
    /// steps, the saga's new state and its outbox rows at once. Nothing is
    /// recorded under the step's idempotency key: the saga state committed
    /// with the effect is the record.
    ///
    /// # Errors
    /// The step's [`StepError`]; a step that cannot run in a caller's
    /// transaction fails permanently (a bug in the caller).
    pub async fn execute_in(
        &self,
        work: &mut StoreWork,
        saga: &SagaState,
        step: Step,
    ) -> Result<StepOutput, StepError> {
        if !self.runs_in_transaction(saga, step) {
            return Err(StepError::permanent(format!(
                "step {} of a {} saga cannot run in a caller's transaction",
                step.name(),
                saga.kind.as_str()
            )));
        }
        provisioning::run_in(self, work.transaction(), saga, step).await
    }

    /// Finds or records the product database: the recorded one if any, else a
    /// shard in the tenant's region with room, else a new shard.
    async fn place_database(
        &self,
        tx: &mut Tx,
        tenant: &str,
        product: &str,
        name: &str,
        region: Option<&str>,
    ) -> Result<(String, String), StepError> {
        let existing: Option<(String, String)> = sqlx::query_as(
            "SELECT shard_id, database_name FROM product_databases WHERE tenant_id = $1 AND product = $2",
        )
        .bind(tenant).bind(product).fetch_optional(&mut **tx).await.map_err(StoreError::from)?;
        if let Some(found) = existing {
            return Ok(found);
        }
        let region = match region {
            Some(region) => region.to_owned(),
            None => placement(tx, tenant).await?.0,
        };
        let shard = self.take_shard(tx, &region).await?;
        exec(tx, "INSERT INTO product_databases (tenant_id, product, shard_id, database_name) VALUES ($1, $2, $3, $4)",
            &[tenant, product, &shard, name]).await?;
        Ok((shard, name.to_owned()))
    }

    /// A shard in `region` with room, else a new one (`<region>-shard-<n>`);
    /// its `used` count is incremented for the database about to be placed.
    pub(crate) async fn take_shard(&self, tx: &mut Tx, region: &str) -> Result<String, StepError> {
        let shard: Option<(String,)> = sqlx::query_as(
            "SELECT shard_id FROM shards WHERE region = $1 AND used < capacity ORDER BY shard_id LIMIT 1",
        )
        .bind(region)
        .fetch_optional(&mut **tx)
        .await
        .map_err(StoreError::from)?;
        let shard = match shard {
            Some((shard,)) => shard,
            None => self.new_shard(tx, region).await?,
        };
        exec(
            tx,
            "UPDATE shards SET used = used + 1 WHERE shard_id = $1",
            &[&shard],
        )
        .await?;
        Ok(shard)
    }

    /// Adds the next shard of `region` (`<region>-shard-<n>`), empty.
    async fn new_shard(
        &self,
        conn: &mut sqlx::AnyConnection,
        region: &str,
    ) -> Result<String, StepError> {
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM shards WHERE region = $1")
            .bind(region)
            .fetch_one(&mut *conn)
            .await
            .map_err(StoreError::from)?;
        let shard = format!("{region}-shard-{}", count + 1);
        // Two workers may need a new shard at once: the second insert is a
        // no-op and both use the shard (capacity is a target, not a hard limit).
        sqlx::query(
            "INSERT INTO shards (shard_id, region, capacity, used) VALUES ($1, $2, $3, 0) \
             ON CONFLICT (shard_id) DO NOTHING",
        )
        .bind(&shard)
        .bind(region)
        .bind(self.config.shard_capacity)
        .execute(&mut *conn)
        .await
        .map_err(StoreError::from)?;
        Ok(shard)
    }

    pub(crate) fn databases(&self) -> &ProductDatabases {
        &self.databases
    }

    pub(crate) fn config(&self) -> &EffectsConfig {
        &self.config
    }

    async fn undo(&self, saga: &SagaState, step: Step) -> Result<(), StepError> {
        let tenant = saga.tenant_id.as_str();
        let product = saga.product().map(|p| p.to_string());
        let mut tx = self.begin().await?;
        exec(
            &mut tx,
            "DELETE FROM step_effects WHERE idempotency_key = $1",
            &[&idempotency_key(saga, step)],
        )
        .await?;
        match (step, product.as_deref()) {
            (Step::RecordLicence, None) => {
                exec(
                    &mut tx,
                    "DELETE FROM tenant_accounts WHERE tenant_id = $1",
                    &[tenant],
                )
                .await?
            }
            (Step::RecordLicence, Some(p)) => {
                exec(
                    &mut tx,
                    "DELETE FROM licences WHERE tenant_id = $1 AND product = $2",
                    &[tenant, p],
                )
                .await?
            }
            (Step::CreateSite, None) => {
                exec(&mut tx, "DELETE FROM sites WHERE tenant_id = $1", &[tenant]).await?
            }
            (Step::CreateSite, Some(p)) => {
                exec(
                    &mut tx,
                    "DELETE FROM site_products WHERE tenant_id = $1 AND product = $2",
                    &[tenant, p],
                )
                .await?
            }
            (Step::PlaceRegion, None) => {
                exec(
                    &mut tx,
                    "DELETE FROM placements WHERE tenant_id = $1",
                    &[tenant],
                )
                .await?
            }
            (Step::StoreMetadata, p) => {
                let scope = p.map_or("site".to_owned(), |p| format!("product:{p}"));
                exec(
                    &mut tx,
                    "DELETE FROM site_metadata WHERE tenant_id = $1 AND scope = $2",
                    &[tenant, &scope],
                )
                .await?
            }
            (Step::CreateIdentity, p) => {
                let group = p.map_or("site-admins".to_owned(), |p| format!("{p}-users"));
                for table in [
                    "identity_group_members",
                    "identity_group_permissions",
                    "identity_groups",
                ] {
                    exec(
                        &mut tx,
                        &format!("DELETE FROM {table} WHERE tenant_id = $1 AND group_name = $2"),
                        &[tenant, &group],
                    )
                    .await?;
                }
                if p.is_none() {
                    exec(
                        &mut tx,
                        "DELETE FROM identity_users WHERE tenant_id = $1",
                        &[tenant],
                    )
                    .await?;
                }
            }
            (Step::ProvisionDatabase, Some(p)) => {
                let row: Option<(String, String)> = sqlx::query_as(
                    "SELECT shard_id, database_name FROM product_databases WHERE tenant_id = $1 AND product = $2")
                    .bind(tenant).bind(p).fetch_optional(&mut *tx).await.map_err(StoreError::from)?;
                if let Some((shard, name)) = row {
                    self.databases.drop_database(&name).await?;
                    exec(
                        &mut tx,
                        "DELETE FROM product_databases WHERE tenant_id = $1 AND product = $2",
                        &[tenant, p],
                    )
                    .await?;
                    exec(
                        &mut tx,
                        "UPDATE shards SET used = used - 1 WHERE shard_id = $1",
                        &[&shard],
                    )
                    .await?;
                }
            }
            (Step::InstallApps, Some(p)) => {
                exec(
                    &mut tx,
                    "DELETE FROM installed_apps WHERE tenant_id = $1 AND product = $2",
                    &[tenant, p],
                )
                .await?
            }
            // Product placement reads the tenant's; tenant sagas have no steps 6 and 7.
            (Step::PlaceRegion, Some(_))
            | (Step::ProvisionDatabase, None)
            | (Step::InstallApps, None) => {}
            (
                Step::CreateTargetDatabases
                | Step::CopyData
                | Step::SwitchPlacement
                | Step::RetireSourceDatabases,
                _,
            ) => return relocation::undo(self, tx, saga, step).await,
            (step, _) => return lifecycle::undo(self, tx, saga, step).await,
        }
        Self::commit(tx, ()).await
    }
}

/// Idempotency key of a step's effect: `<saga id>:<step name>`, the same for
/// every attempt, so a redelivered or resumed step finds its recorded result.
pub fn idempotency_key(saga: &SagaState, step: Step) -> String {
    format!("{}:{}", saga.saga_id, step.name())
}

pub(crate) async fn record_effect(
    tx: &mut Tx,
    key: &str,
    output: &StepOutput,
) -> Result<(), StepError> {
    sqlx::query(
        "INSERT INTO step_effects (idempotency_key, result, recorded_at) VALUES ($1, $2, $3)",
    )
    .bind(key)
    .bind(serde_json::to_string(output).map_err(StoreError::from)?)
    .bind(crate::store::now_ms())
    .execute(&mut **tx)
    .await
    .map_err(StoreError::from)?;
    Ok(())
}

/// Runs `sql` with text parameters `$1..$n` in the step's transaction.
pub(crate) async fn exec(tx: &mut Tx, sql: &str, params: &[&str]) -> Result<(), StepError> {
    let mut query = sqlx::query(sql);
    for value in params {
        query = query.bind(*value);
    }
    query.execute(&mut **tx).await.map_err(StoreError::from)?;
    Ok(())
}

/// Data residency fails closed: a pinned tenant's step never acts in another
/// region than its pin (seed, "Data residency").
async fn check_residency(tx: &mut Tx, saga: &SagaState) -> Result<(), StepError> {
    if saga.spec.tenant.residency_pin.is_none() {
        return Ok(());
    }
    let (region, _) = placement(tx, saga.tenant_id.as_str()).await?;
    residency_guard(saga, &region)
}

/// The region step 3 (`place_region`) of `saga` recorded, when it ran: a
/// saga's later steps act where it placed the tenant (one saga per tenant
/// runs at a time, so the placement cannot change under it).
fn placed_region(saga: &SagaState) -> Option<&'static str> {
    saga.results
        .get(&Step::PlaceRegion)
        .and_then(StepOutput::region)
        .map(|region| region.as_str())
}

async fn placement(tx: &mut Tx, tenant: &str) -> Result<(String, bool), StepError> {
    // `pinned` is 0/1: sqlx's Any driver cannot decode SQLite booleans.
    let row: Option<(String, i64)> =
        sqlx::query_as("SELECT region, pinned FROM placements WHERE tenant_id = $1")
            .bind(tenant)
            .fetch_optional(&mut **tx)
            .await
            .map_err(StoreError::from)?;
    row.map(|(region, pinned)| (region, pinned != 0))
        .ok_or_else(|| {
            StepError::permanent(format!(
                "tenant {tenant} has no region: its tenant_created saga has not completed"
            ))
        })
}

impl StepEffects for LocalEffects {
    async fn execute(&self, saga: &SagaState, step: Step) -> Result<StepOutput, StepError> {
        self.execute_once(saga, step).await
    }

    async fn compensate(&self, saga: &SagaState, step: Step) -> Result<(), StepError> {
        self.undo(saga, step).await
    }
}
