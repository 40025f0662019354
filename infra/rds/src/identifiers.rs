//! Names on the RDS side: AWS regions and resource identifiers.

use tenantry_schemas::Region;

/// The AWS region of a Tenantry data-residency region (AWS "Regions and
/// Availability Zones"): the EU is Ireland, Germany Frankfurt, Switzerland
/// Zurich, the UK London.
pub fn aws_region(region: Region) -> &'static str {
    match region {
        Region::Us => "us-east-1",
        Region::Eu => "eu-west-1",
        Region::Uk => "eu-west-2",
        Region::Au => "ap-southeast-2",
        Region::Ca => "ca-central-1",
        Region::De => "eu-central-1",
        Region::In => "ap-south-1",
        Region::Jp => "ap-northeast-1",
        Region::Sg => "ap-southeast-1",
        Region::Kr => "ap-northeast-2",
        Region::Ch => "eu-central-2",
    }
}

/// The DB instance identifier of shard `shard_id` under `prefix`
/// ([`RdsConfig::prefix`](crate::RdsConfig::prefix); `eu-shard-3` →
/// `tenantry-eu-shard-3`). Deterministic, so a retry finds the instance an
/// earlier attempt created. RDS rule: 1–63 letters, digits and hyphens,
/// starting with a letter, no two hyphens in a row, no hyphen at the end;
/// other characters become hyphens and a longer name is cut.
pub fn instance_identifier(prefix: &str, shard_id: &str) -> String {
    identifier(&format!("{prefix}-{shard_id}"), 63)
}

/// The DB snapshot identifier for snapshot `name` (a deactivation's
/// `snap_<database>_<saga>`) under `prefix`: the same rule as instances, up
/// to 255 characters.
pub fn snapshot_identifier(prefix: &str, name: &str) -> String {
    identifier(&format!("{prefix}-{name}"), 255)
}

fn identifier(raw: &str, max: usize) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        let c = if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '-'
        };
        if c == '-' && out.ends_with('-') {
            continue;
        }
        out.push(c);
    }
    out.truncate(max);
    while out.ends_with('-') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_id_becomes_a_valid_instance_identifier() {
        assert_eq!(
            instance_identifier("tenantry", "eu-shard-3"),
            "tenantry-eu-shard-3"
        );
        assert_eq!(
            instance_identifier("tenantry", "eu_shard__3-"),
            "tenantry-eu-shard-3"
        );
        let long = instance_identifier("tenantry", &"x".repeat(100));
        assert_eq!(long.len(), 63);
        assert!(long.starts_with("tenantry-"));
    }

    #[test]
    fn a_snapshot_name_becomes_a_valid_snapshot_identifier() {
        assert_eq!(
            snapshot_identifier("tenantry", "snap_t_acme__jira_0a1b2c3d"),
            "tenantry-snap-t-acme-jira-0a1b2c3d"
        );
        let cut = snapshot_identifier("tenantry", &format!("{}_", "y".repeat(300)));
        assert_eq!(cut.len(), 255);
        assert!(!cut.ends_with('-'));
    }

    #[test]
    fn every_region_has_its_own_aws_region() {
        let mut seen: Vec<_> = Region::ALL.into_iter().map(aws_region).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), Region::ALL.len());
    }
}
