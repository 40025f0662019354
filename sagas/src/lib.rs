//! The pure domain of Tenantry: no tokio, rdkafka, sqlx or AWS SDK here.
//!
//! - [`admission`]: the per-tenant order of commerce events — release, stale
//!   or wait — from the tenant's ledger.
//! - [`output`]: what a step produced, typed; stored as a flat map of strings.
//! - [`placement`]: region choice — the data-residency pin, else the region
//!   nearest the tenant's country.
//! - [`saga`]: the seven-step provisioning saga as a state machine. It performs
//!   no effects: it returns the next [`saga::SagaAction`] and the provisioning
//!   events to append to the outbox; adapters behind [`ports::StepEffects`] do
//!   the work.
//! - [`desired`]: what commerce asked for, and the guards that reject events.
//! - [`reconciler`]: desired × provisioned state → the next saga, or nothing.
//! - [`tenant`]: what the provisioner keeps per tenant, and the tenant state
//!   it publishes — a pure function of it.
//! - [`context`]: the tenant context, the newest published tenant state, so
//!   replaying the provisioning topic into an empty store yields the live context.
//! - [`work`]: a batch's unit of work as data — what it reads, what it writes.
//! - [`ports`]: the traits adapters implement — step effects, the batch
//!   store, the provisioner's store and its unit of work, the tenant
//!   context store.
//! - [`step_store`]: the rows a step writes on its own path, per table.
//!
//! Depends only on `tenantry-schemas` (the contract).

pub mod admission;
pub mod context;
pub mod desired;
pub mod output;
pub mod placement;
pub mod ports;
pub mod reconciler;
pub mod saga;
pub mod step_store;
pub mod steps;
pub mod tenant;
#[cfg(test)]
mod test_support;
pub mod work;

pub use admission::{Admission, ParkKind, admit};
pub use context::{
    ContextChange, ContextVersion, ProductContext, ProductState, TenantContext, TenantStatus,
};
pub use desired::{DesiredState, Goal, Licence, Rejection};
pub use placement::place;
pub use ports::{
    BatchStore, ContextsError, OutboxClaim, OutboxRecord, OutboxStore, ProvisionerStore,
    StepEffects, StepError, StepOutput, StoreFailure, TenantContexts, TransactionalEffects,
    UnitOfWork,
};
pub use reconciler::{ProvisionedState, SagaPlan, reconcile};
pub use saga::{SagaAction, SagaKind, SagaSpec, SagaState, SagaStatus};
pub use steps::{Compensation, Step, StepPolicy};
pub use tenant::{Ledger, MAX_REJECTIONS, SagaFailure, TenantRecord};
