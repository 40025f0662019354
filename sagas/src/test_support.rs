//! Fixtures shared by the crate's unit tests.

use tenantry_schemas::{Envelope, MIN_OCCURRED_AT_MS, TenantId};
use uuid::Uuid;

/// The envelope of tenant `t1`'s commerce event at `sequence`, with the
/// sequence as its event id (so each sequence is one distinct event).
pub(crate) fn envelope(sequence: i64) -> Envelope {
    Envelope {
        event_id: Uuid::from_u128(sequence as u128),
        tenant_id: TenantId::parse("t1").unwrap(),
        sequence,
        occurred_at_ms: MIN_OCCURRED_AT_MS,
        source: "test".into(),
        correlation_id: None,
        causation_id: None,
    }
}
