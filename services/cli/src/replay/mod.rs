//! `tenantry replay`: rebuild chosen tenants' contexts (or all) from the
//! provisioning topic into the context store the settings name
//! (`--context-store`, `--context-database-url`, `--dynamodb-table`), as a
//! write, a dry run or a caught-up check ([`tenantry_projector::replay`]
//! does the work; this module parses, prints and picks the exit code).
//! Stored contexts the topic has no tenant state of are reported as missing
//! and kept unless `--delete-missing` ([`tenantry_projector::Missing`]).

mod render;
#[cfg(test)]
mod tests;

pub use render::ReplayDocument;

use crate::output;
use crate::projector_args::ChangelogArg;
use crate::settings::Settings;
use clap::Args;
use std::collections::BTreeSet;
use std::time::Duration;
use tenantry_kafka::ReadProgress;
use tenantry_projector::{Missing, Mode, ReplayOptions, Scope};
use tenantry_schemas::TenantId;

/// `tenantry replay` arguments.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Rebuild only this tenant's context (repeatable, or comma-separated:
    /// `--tenant t1,t2`); other stored contexts are left as they are.
    /// Default: every tenant, the topic's and the store's.
    #[arg(long = "tenant", value_name = "TENANT", value_delimiter = ',', value_parser = parse_tenant)]
    pub tenants: Vec<TenantId>,
    /// Compare only: print how each stored context differs from the rebuilt
    /// one (added, removed, changed with its fields); write and publish
    /// nothing. Exits 0 whether or not they differ.
    #[arg(long)]
    pub dry_run: bool,
    /// A dry run that exits 0 only when the store equals the rebuild (a
    /// context newer than the rebuild counts as equal: the store's projector
    /// is ahead of the replay's read), else 1: "has the green store caught
    /// up?". A missing context (see `--delete-missing`) fails the check.
    #[arg(long, conflicts_with = "dry_run")]
    pub check: bool,
    /// Delete stored contexts (of every tenant, or of the `--tenant`s) that
    /// the topic has no tenant state of, with compare-and-set, and publish a
    /// tombstone for each. Without it they are reported as `missing` and
    /// kept: a destroyed tenant keeps its last state in the topic, so a
    /// context with none usually means the topic lost records (retention, a
    /// wrong `--topic-suffix`), not a removed tenant.
    #[arg(long)]
    pub delete_missing: bool,
    /// Whether the writes are published on the changelog topic (`publish`,
    /// for the store the context APIs read) or not (`off`, for a new store
    /// no API reads yet: the green store of a blue-green rebuild).
    #[arg(long, value_enum, env = "TENANTRY_CHANGELOG", default_value_t = ChangelogArg::Publish)]
    pub changelog: ChangelogArg,
    /// Longest the read of the provisioning topic may take, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub read_timeout_secs: u64,
    /// Print one JSON document on stdout instead of text (see `tenantry
    /// replay --help` of the command for its fields).
    #[arg(long)]
    pub json: bool,
}

/// A `--tenant` value: a tenant id ([`TenantId::parse`]).
fn parse_tenant(raw: &str) -> Result<TenantId, String> {
    TenantId::parse(raw.trim()).map_err(|error| error.reason)
}

impl ReplayArgs {
    /// What the flags ask the library for.
    pub fn options(&self) -> ReplayOptions {
        let scope = if self.tenants.is_empty() {
            Scope::All
        } else {
            Scope::Tenants(self.tenants.iter().cloned().collect::<BTreeSet<_>>())
        };
        ReplayOptions {
            scope,
            mode: if self.dry_run || self.check {
                Mode::DryRun
            } else {
                Mode::Write
            },
            missing: if self.delete_missing {
                Missing::Delete
            } else {
                Missing::Keep
            },
            timeout: Duration::from_secs(self.read_timeout_secs),
            changelog: self.changelog.into(),
            progress: None,
        }
    }
}

/// `tenantry replay`: prints the report ([`ReplayDocument`] with `--json`,
/// else text), then fails (exit 1) when a named tenant has no state in the
/// topic, or with `--check` when the store differs from the rebuild
/// (differences or missing contexts).
///
/// Errors: the broker, store or registry is unreachable; the read took
/// longer than `--read-timeout-secs`; a publish failed after its write.
pub async fn run(settings: &Settings, args: ReplayArgs) -> anyhow::Result<()> {
    let shutdown = crate::services::shutdown_on_signal();
    let contexts = crate::services::contexts(settings, &shutdown).await?;
    let codec = settings.codec()?;
    let topics = settings.topics();
    // Reading the topic is the long part: a bar of records read (on a
    // terminal only).
    let bar = crate::progress::bar(0, "read");
    let options = ReplayOptions {
        progress: (!bar.is_hidden()).then(|| {
            let bar = bar.clone();
            ReadProgress::new(move |read, total| {
                bar.set_length(total);
                bar.set_position(read);
            })
        }),
        ..args.options()
    };
    let replayed = tenantry_projector::replay(
        &settings.kafka("replay"),
        &topics,
        &codec,
        &*contexts,
        &options,
    )
    .await;
    bar.finish_and_clear();
    let report = replayed?;
    if report.records_read == 0 {
        // An empty topic rebuilds nothing, and `--check` against an empty
        // store passes: say so, in case the suffix or bootstrap is wrong.
        tracing::warn!(
            topic = %topics.provisioning,
            "The provisioning topic has no records: nothing was rebuilt. Are --topic-suffix and \
             --bootstrap right?"
        );
    }
    let document = ReplayDocument::new(&report);
    if args.json {
        output::print(&document)?;
    } else {
        output::write_stdout(render::text(&report, &topics.provisioning).as_bytes())?;
    }
    if !report.unknown.is_empty() {
        let names: Vec<&str> = report.unknown.iter().map(TenantId::as_str).collect();
        anyhow::bail!(
            "tenant: {} has no tenant state in {} (the tenants that have one were replayed)",
            names.join(", "),
            topics.provisioning
        );
    }
    if args.check && !document.caught_up {
        anyhow::bail!(
            "not caught up: {}",
            render::not_caught_up(&report, &topics.provisioning)
        );
    }
    Ok(())
}
