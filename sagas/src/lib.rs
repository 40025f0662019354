//! The pure domain of Tenantry: no tokio, rdkafka, sqlx or AWS SDK here.
//!
//! - [`placement`]: region choice — the data-residency pin, else the region
//!   nearest the tenant's country.
//! - [`saga`]: the seven-step provisioning saga as a state machine. It performs
//!   no effects: it returns the next [`saga::SagaAction`] and the provisioning
//!   events to append to the outbox; adapters behind [`ports::StepEffects`] do
//!   the work.
//! - [`planner`]: which saga (if any) a commerce event starts.
//! - [`context`]: the tenant context and its fold, a pure function of events, so
//!   replaying the topics into an empty store yields the live context.
//!
//! Depends only on `tenantry-schemas` (the contract).

pub mod context;
pub mod placement;
pub mod planner;
pub mod ports;
pub mod saga;
pub mod steps;

pub use context::{ProductContext, ProductState, TenantContext, TenantStatus};
pub use placement::place;
pub use planner::{PlanError, SagaPlan, plan};
pub use ports::{StepEffects, StepError, StepOutput};
pub use saga::{SagaAction, SagaKind, SagaSpec, SagaState, SagaStatus};
pub use steps::{Compensation, Step, StepPolicy};
