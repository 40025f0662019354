//! The contexts the conformance tests write. Shared with the DynamoDB
//! implementation's run of the suite (`infra/dynamodb/tests/contexts.rs`
//! includes this file and `suite.rs` by path), so it names nothing of
//! `tenantry-store`.

use tenantry_sagas::{ContextVersion, TenantContext, TenantStatus};
use tenantry_schemas::TenantId;
use uuid::Uuid;

pub(crate) fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

/// An active context of `tenant_id` from its tenant-state record at
/// provisioning sequence `sequence`, on site host `host`.
pub(crate) fn context(tenant_id: &str, sequence: i64, host: Option<&str>) -> TenantContext {
    let mut context = TenantContext::empty(tenant(tenant_id));
    context.state.status = TenantStatus::Active;
    context.state.site = Some(tenant_id.to_owned());
    context.state.site_host = host.map(str::to_owned);
    context.state.commerce_sequence = sequence;
    context.version = ContextVersion {
        provisioning_sequence: sequence,
        event_id: Some(Uuid::new_v4()),
    };
    context
}
