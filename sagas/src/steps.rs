//! The seven steps of provisioning (seed, "Tenant provisioning and lifecycle";
//! DESIGN.md, "The seven steps").

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How a step is retried and bounded.
///
/// Attempts back off exponentially from `initial_backoff`, doubling up to
/// `max_backoff`, with full jitter; only errors the adapter marks retryable
/// (lost connections, timeouts) are retried — a business-rule failure is
/// permanent at once. An attempt longer than `timeout` counts as a retryable
/// failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepPolicy {
    /// Attempts before a retryable failure counts as permanent (≥ 1).
    pub max_attempts: usize,
    /// First backoff.
    pub initial_backoff: Duration,
    /// Backoff cap.
    pub max_backoff: Duration,
    /// Per-attempt timeout.
    pub timeout: Duration,
}

/// What undoes a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compensation {
    /// The step has an undo action, run in reverse order when a later step fails.
    Undo,
    /// A pivot: once it completed the saga only moves forward — later failures
    /// are retried, never compensated. (No provisioning step is a pivot today:
    /// every effect, including the product database and app installs, can be
    /// undone; issue #4 asks that a failed step 7 leave no database behind.)
    Pivot,
}

/// One provisioning step. The order of the variants is the order of execution;
/// compensation runs completed steps in reverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// 1. Record commerce metadata and the licence (access-control) state.
    RecordLicence,
    /// 2. Create the site (unique host `<site>.<domain>`) and activate products.
    CreateSite,
    /// 3. Place the tenant in a region: the residency pin, else nearest its users.
    PlaceRegion,
    /// 4. Store site and product core metadata and default configuration.
    StoreMetadata,
    /// 5. Create identity data: users, groups, permissions.
    CreateIdentity,
    /// 6. Provision the product database on a shard in the region.
    ProvisionDatabase,
    /// 7. Install the licensed apps.
    InstallApps,
}

impl Step {
    /// All steps in execution order.
    pub const ALL: [Step; 7] = [
        Step::RecordLicence,
        Step::CreateSite,
        Step::PlaceRegion,
        Step::StoreMetadata,
        Step::CreateIdentity,
        Step::ProvisionDatabase,
        Step::InstallApps,
    ];

    /// Step number 1..=7 as in the seed.
    pub fn number(self) -> i32 {
        Step::ALL.iter().position(|s| *s == self).unwrap_or(0) as i32 + 1
    }

    /// Step for a number 1..=7.
    pub fn from_number(number: i32) -> Option<Step> {
        usize::try_from(number - 1)
            .ok()
            .and_then(|i| Step::ALL.get(i).copied())
    }

    /// Snake-case name (`create_site`), used in events and logs.
    pub fn name(self) -> &'static str {
        match self {
            Step::RecordLicence => "record_licence",
            Step::CreateSite => "create_site",
            Step::PlaceRegion => "place_region",
            Step::StoreMetadata => "store_metadata",
            Step::CreateIdentity => "create_identity",
            Step::ProvisionDatabase => "provision_database",
            Step::InstallApps => "install_apps",
        }
    }

    /// Retry and timeout policy. Steps that only touch the local database get
    /// short timeouts; creating a product database (DDL, or an RDS instance at
    /// scale) and calling apps get longer ones.
    pub fn policy(self) -> StepPolicy {
        let timeout = match self {
            Step::ProvisionDatabase => Duration::from_secs(60),
            Step::InstallApps => Duration::from_secs(30),
            _ => Duration::from_secs(10),
        };
        StepPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            timeout,
        }
    }

    /// How the step is undone.
    pub fn compensation(self) -> Compensation {
        Compensation::Undo
    }

    /// The step after this one, if any.
    pub fn next(self) -> Option<Step> {
        Step::from_number(self.number() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_in_order() {
        for (i, step) in Step::ALL.iter().enumerate() {
            assert_eq!(step.number(), i as i32 + 1);
            assert_eq!(Step::from_number(step.number()), Some(*step));
        }
        assert_eq!(Step::from_number(0), None);
        assert_eq!(Step::from_number(8), None);
        assert_eq!(Step::InstallApps.next(), None);
        assert_eq!(Step::RecordLicence.next(), Some(Step::CreateSite));
    }
}
