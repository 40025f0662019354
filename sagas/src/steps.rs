//! The seven steps of provisioning (seed, "Tenant provisioning and lifecycle";
//! DESIGN.md, "The seven steps").

use serde::{Deserialize, Serialize};

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
