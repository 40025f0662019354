//! Deactivation: the product database is dropped, or kept renamed
//! `archived_<name>`, per retention ([`super::Retention`]) — after the
//! snapshot the step before took. Its row is deleted and its shard gets
//! the room back with the step; the database itself is retired after that
//! commits (DDL is not transactional), and again when a retry finds the
//! step recorded.
//!
//! A pivot: a dropped database cannot be un-dropped, so the step is never
//! undone.

use super::snapshot_database::deactivated_database;
use super::{StepContext, StepHandler, product_of, retire};
use async_trait::async_trait;
use std::time::Duration;
use tenantry_sagas::step_store::StepStore;
use tenantry_sagas::work::PlacedDatabase;
use tenantry_sagas::{SagaState, StepError, StepOutput, StepPolicy};
use tenantry_schemas::{ProductKey, TenantId};

/// Retires a deactivated product's database.
pub(super) struct RetireDatabase;

#[async_trait]
impl StepHandler for RetireDatabase {
    /// Dropping or archiving a database: 60 s per attempt.
    fn policy(&self) -> StepPolicy {
        StepPolicy::with_timeout(Duration::from_secs(60))
    }

    async fn execute(
        &self,
        _cx: &StepContext,
        store: &mut dyn StepStore,
        saga: &SagaState,
    ) -> Result<StepOutput, StepError> {
        let product = &product_of(saga)?.product;
        let database = deactivated_database(store, saga, product).await?;
        forget_database(store, &saga.tenant_id, product).await?;
        Ok(StepOutput::new().with_retired([database.as_str()]))
    }

    async fn complete(
        &self,
        cx: &StepContext,
        _saga: &SagaState,
        output: &StepOutput,
    ) -> Result<(), StepError> {
        for database in output.retired() {
            retire(cx, &database).await?;
        }
        Ok(())
    }
}

/// Deletes the product's database row and gives its shard the room back;
/// returns where the database was, if the product had one.
pub(super) async fn forget_database(
    store: &mut dyn StepStore,
    tenant: &TenantId,
    product: &ProductKey,
) -> Result<Option<PlacedDatabase>, StepError> {
    let Some(placed) = store.product_database(tenant, product).await? else {
        return Ok(None);
    };
    store.delete_product_database(tenant, product).await?;
    store.add_shard_usage(&placed.shard, -1).await?;
    Ok(Some(placed))
}
