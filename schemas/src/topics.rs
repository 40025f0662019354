//! Topic names, overridable so tests can use a fresh topic set per test.

use crate::events::{CHANGELOG_TOPIC, COMMERCE_DLQ_TOPIC, COMMERCE_TOPIC, PROVISIONING_TOPIC};

/// The topics one deployment uses. [`Default`] gives the contract's names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// Commerce lifecycle events (`commerce.lifecycle.v1`).
    pub commerce: String,
    /// Dead-letter topic for commerce records (`commerce.lifecycle.v1.dlq`).
    pub commerce_dlq: String,
    /// Provisioning (saga) events (`provisioning.events.v1`).
    pub provisioning: String,
    /// The tenant context changelog (`tenant-context.changelog.v1`),
    /// compacted.
    pub changelog: String,
}

impl Default for Topics {
    fn default() -> Self {
        Self {
            commerce: COMMERCE_TOPIC.to_owned(),
            commerce_dlq: COMMERCE_DLQ_TOPIC.to_owned(),
            provisioning: PROVISIONING_TOPIC.to_owned(),
            changelog: CHANGELOG_TOPIC.to_owned(),
        }
    }
}

impl Topics {
    /// The contract's names with `suffix` appended (`commerce.lifecycle.v1-<suffix>`),
    /// for isolated test runs.
    pub fn with_suffix(suffix: &str) -> Self {
        let base = Self::default();
        Self {
            commerce: format!("{}-{suffix}", base.commerce),
            commerce_dlq: format!("{}-{suffix}.dlq", base.commerce),
            provisioning: format!("{}-{suffix}", base.provisioning),
            changelog: format!("{}-{suffix}", base.changelog),
        }
    }

    /// Every topic with its partition count for creation: 3 for the event
    /// topics (key = tenant id spreads tenants), 1 for the dead-letter topic.
    /// The changelog is not among them: it is compacted, and the projector
    /// creates it ([`Topics::changelog_partitions`]).
    pub fn with_partitions(&self) -> Vec<(&str, i32)> {
        vec![
            (self.commerce.as_str(), 3),
            (self.commerce_dlq.as_str(), 1),
            (self.provisioning.as_str(), 3),
        ]
    }

    /// Partitions of the changelog: those of the provisioning topic, whose
    /// records it follows tenant by tenant.
    pub fn changelog_partitions(&self) -> i32 {
        3
    }
}
