//! What `tenantry replay` prints: [`ReplayDocument`] (`--json`) and
//! [`text`].

use serde::Serialize;
use std::fmt::Write as _;
use tenantry_projector::{ContextDiff, Difference, ReplayReport};
use tenantry_schemas::TenantId;

/// `replay --json`: one object.
///
/// ```json
/// {"dry_run": false, "records_read": 12, "passed_over": 4, "events_applied": 6,
///  "skipped": 2, "tenants": 3, "unchanged": 1, "caught_up": false,
///  "differences": [
///    {"tenant_id": "t1", "change": "changed", "revision": 3,
///     "fields": [{"field": "status", "stored": "failed", "rebuilt": "active"}]},
///    {"tenant_id": "t2", "change": "added", "context": {…}},
///    {"tenant_id": "t3", "change": "removed", "revision": 2, "context": {…}}],
///  "newer_in_store": ["t4"], "missing": ["t5"], "unknown": ["t9"]}
/// ```
///
/// `revision` is the stored revision the difference was found at; a write
/// makes it `revision + 1` (an added context starts at 1); a `removed`
/// difference appears only with `--delete-missing`, else the tenant is in
/// `missing`. `dry_run`: nothing was written or published. `caught_up`: no
/// differences and nothing missing.
#[derive(Debug, Serialize, PartialEq)]
pub struct ReplayDocument {
    /// Nothing was written (`--dry-run`, `--check`).
    pub dry_run: bool,
    /// Records read from the provisioning topic.
    pub records_read: usize,
    /// Records of tenants not named by `--tenant`, passed over by key.
    pub passed_over: usize,
    /// Records that changed a rebuilt context.
    pub events_applied: usize,
    /// Records skipped (older, repeated, retired saga records or undecodable).
    pub skipped: usize,
    /// Contexts rebuilt.
    pub tenants: usize,
    /// Stored contexts equal to the rebuilt ones.
    pub unchanged: usize,
    /// The store equals the rebuild: `differences` and `missing` are empty.
    pub caught_up: bool,
    /// How stored contexts differ (or differed, before the write), by tenant.
    pub differences: Vec<ContextDiff>,
    /// Tenants whose stored context is newer than the rebuild: kept.
    pub newer_in_store: Vec<TenantId>,
    /// Tenants whose stored context the topic has no tenant state of: kept
    /// (deleted, as `removed` differences, only with `--delete-missing`).
    pub missing: Vec<TenantId>,
    /// `--tenant` ids with no tenant state in the topic.
    pub unknown: Vec<TenantId>,
}

impl ReplayDocument {
    /// The document of `report`.
    pub fn new(report: &ReplayReport) -> Self {
        Self {
            dry_run: !report.written,
            records_read: report.records_read,
            passed_over: report.passed_over,
            events_applied: report.events_applied,
            skipped: report.skipped,
            tenants: report.tenants,
            unchanged: report.unchanged,
            caught_up: report.differences.is_empty() && report.missing.is_empty(),
            differences: report.differences.clone(),
            newer_in_store: report.newer_in_store.clone(),
            missing: report
                .missing
                .iter()
                .map(|missing| missing.tenant_id.clone())
                .collect(),
            unknown: report.unknown.clone(),
        }
    }
}

/// The text report: a summary line, then one line per difference (changed
/// ones followed by a `  field: stored → rebuilt` line per field), then
/// missing, kept and unknown tenants.
pub fn text(report: &ReplayReport, topic: &str) -> String {
    let mut out = String::new();
    let (verb, would) = if report.written {
        ("replay", "written")
    } else {
        ("replay (dry run, nothing written)", "to write")
    };
    let _ = writeln!(
        out,
        "{verb}: read {} records of {topic} ({} of other tenants passed over), applied {} tenant \
         states, skipped {}; {} tenant contexts rebuilt: {} unchanged, {} {would}, {} missing",
        report.records_read,
        report.passed_over,
        report.events_applied,
        report.skipped,
        report.tenants,
        report.unchanged,
        report.differences.len(),
        report.missing.len(),
    );
    for diff in &report.differences {
        let tenant = &diff.tenant_id;
        match &diff.difference {
            Difference::Added { .. } if report.written => {
                let _ = writeln!(out, "added {tenant}: revision 1");
            }
            Difference::Added { .. } => {
                let _ = writeln!(out, "added {tenant}: not stored, rebuilt");
            }
            Difference::Removed { revision, .. } if report.written => {
                let published = if report.published {
                    ", tombstone published"
                } else {
                    ""
                };
                let _ = writeln!(
                    out,
                    "removed {tenant}: deleted at revision {revision}{published}"
                );
            }
            Difference::Removed { revision, .. } => {
                let _ = writeln!(
                    out,
                    "removed {tenant}: stored at revision {revision}, no tenant state in {topic}"
                );
            }
            Difference::Changed { revision, fields } => {
                if report.written {
                    let _ = writeln!(
                        out,
                        "changed {tenant}: revision {revision} → {}",
                        revision + 1
                    );
                } else {
                    let _ = writeln!(out, "changed {tenant}: stored at revision {revision}");
                }
                for field in fields {
                    let _ = writeln!(out, "  {field}");
                }
            }
        }
    }
    for missing in &report.missing {
        let _ = writeln!(
            out,
            "missing {}: stored at revision {}, no tenant state in {topic}",
            missing.tenant_id, missing.revision
        );
    }
    for tenant in &report.newer_in_store {
        let _ = writeln!(
            out,
            "kept {tenant}: the store holds a newer tenant state than the replay read"
        );
    }
    for tenant in &report.unknown {
        let _ = writeln!(out, "unknown {tenant}: no tenant state in {topic}");
    }
    out
}

/// Why `--check` fails: the differences and the missing contexts, counted,
/// the latter with what they likely mean.
pub fn not_caught_up(report: &ReplayReport, topic: &str) -> String {
    let mut reasons = Vec::new();
    if !report.differences.is_empty() {
        reasons.push(format!(
            "{} tenant context(s) differ from the rebuild",
            report.differences.len()
        ));
    }
    if !report.missing.is_empty() {
        reasons.push(format!(
            "{} stored context(s) have no tenant state in {topic} (missing: has the topic lost \
             records? `--delete-missing` deletes them)",
            report.missing.len()
        ));
    }
    reasons.join("; ")
}
