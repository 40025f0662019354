//! Kafka record headers Tenantry writes on every record of the commerce and
//! provisioning topics, beside the Avro value.
//!
//! They repeat two envelope fields so that a reader can route, count or drop a
//! duplicate without decoding the value (and without the schema registry), and
//! so that tools (`kcat -f '%h'`, Kafka's console consumer) show what a record
//! is. The value stays the source of truth: Tenantry's own readers decode the
//! envelope and never trust a header over it. Values are UTF-8.
//!
//! | header | value |
//! |---|---|
//! | [`EVENT_ID`] | the envelope's `event_id`, a UUID in its hyphenated form |
//! | [`EVENT_KIND`] | the event kind in snake case (`tenant_created`, `saga_completed`) |
//!
//! The dead-letter topic keeps a record's headers and adds its `dlq.*` ones
//! (`tenantry_kafka::dead_letter`).

use crate::events::{CommerceRecord, ProvisioningRecord};

/// Header name: the record's event id (UTF-8 hyphenated UUID).
pub const EVENT_ID: &str = "event_id";

/// Header name: the record's event kind (UTF-8 snake case).
pub const EVENT_KIND: &str = "event_kind";

/// The headers of one record, owned; [`RecordHeaders::pairs`] lends them in
/// the `(name, value)` form the producer takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHeaders {
    event_id: String,
    kind: &'static str,
}

impl RecordHeaders {
    /// The headers of a commerce record.
    pub fn commerce(record: &CommerceRecord) -> Self {
        Self {
            event_id: record.envelope.event_id.to_string(),
            kind: record.event.kind(),
        }
    }

    /// The headers of a provisioning record.
    pub fn provisioning(record: &ProvisioningRecord) -> Self {
        Self {
            event_id: record.envelope.event_id.to_string(),
            kind: record.event.kind(),
        }
    }

    /// `[(EVENT_ID, id), (EVENT_KIND, kind)]`.
    pub fn pairs(&self) -> [(&'static str, &[u8]); 2] {
        [
            (EVENT_ID, self.event_id.as_bytes()),
            (EVENT_KIND, self.kind.as_bytes()),
        ]
    }
}
