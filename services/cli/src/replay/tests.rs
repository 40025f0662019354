use super::*;
use clap::Parser;
use tenantry_projector::{ContextDiff, Difference, FieldChange, MissingContext, ReplayReport};

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    args: ReplayArgs,
}

fn parse(args: &[&str]) -> Result<ReplayArgs, clap::Error> {
    Cli::try_parse_from(std::iter::once("replay").chain(args.iter().copied())).map(|c| c.args)
}

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

#[test]
fn tenants_are_repeatable_and_comma_separated() {
    let args = parse(&["--tenant", "t1", "--tenant", "t2,t3"]).unwrap();
    assert_eq!(args.tenants, [tenant("t1"), tenant("t2"), tenant("t3")]);
    assert_eq!(
        args.options().scope,
        Scope::Tenants([tenant("t1"), tenant("t2"), tenant("t3")].into())
    );
    assert_eq!(args.options().mode, Mode::Write);
    assert_eq!(
        args.options().changelog,
        tenantry_projector::Changelog::Publish
    );
    let off = parse(&["--changelog", "off"]).unwrap().options();
    assert_eq!(off.changelog, tenantry_projector::Changelog::Off);
    assert_eq!(parse(&[]).unwrap().options().scope, Scope::All);
}

#[test]
fn an_invalid_tenant_is_a_usage_error_naming_the_flag() {
    let error = parse(&["--tenant", "t1,Not_A_Tenant"]).unwrap_err();
    assert_eq!(error.kind(), clap::error::ErrorKind::ValueValidation);
    let message = error.to_string();
    assert!(message.contains("--tenant"), "{message}");
    assert!(message.contains("Not_A_Tenant"), "{message}");
}

#[test]
fn dry_run_and_check_write_nothing_and_exclude_each_other() {
    assert_eq!(parse(&["--dry-run"]).unwrap().options().mode, Mode::DryRun);
    assert_eq!(parse(&["--check"]).unwrap().options().mode, Mode::DryRun);
    let error = parse(&["--dry-run", "--check"]).unwrap_err();
    assert_eq!(error.kind(), clap::error::ErrorKind::ArgumentConflict);
}

#[test]
fn missing_contexts_are_kept_unless_delete_missing() {
    assert_eq!(parse(&[]).unwrap().options().missing, Missing::Keep);
    assert_eq!(
        parse(&["--tenant", "t1"]).unwrap().options().missing,
        Missing::Keep
    );
    for args in [
        &["--delete-missing"][..],
        &["--delete-missing", "--tenant", "t1"],
        &["--delete-missing", "--dry-run"],
        &["--delete-missing", "--check"],
    ] {
        assert_eq!(
            parse(args).unwrap().options().missing,
            Missing::Delete,
            "{args:?}"
        );
    }
}

fn report(written: bool) -> ReplayReport {
    ReplayReport {
        records_read: 9,
        passed_over: 3,
        events_applied: 4,
        skipped: 2,
        tenants: 2,
        unchanged: 1,
        differences: vec![ContextDiff {
            tenant_id: tenant("t1"),
            difference: Difference::Changed {
                revision: 3,
                fields: vec![FieldChange {
                    field: "status".into(),
                    stored: Some("failed".into()),
                    rebuilt: Some("active".into()),
                }],
            },
        }],
        newer_in_store: vec![tenant("t4")],
        missing: vec![MissingContext {
            tenant_id: tenant("t5"),
            revision: 6,
        }],
        unknown: vec![tenant("t9")],
        written,
        published: written,
    }
}

#[test]
fn the_text_shows_each_changed_field_stored_then_rebuilt() {
    let dry = render::text(&report(false), "provisioning.events.v1");
    let lines: Vec<&str> = dry.lines().collect();
    assert!(
        lines[0].starts_with("replay (dry run, nothing written): read 9 records"),
        "{dry}"
    );
    assert!(
        lines[0].ends_with("1 unchanged, 1 to write, 1 missing"),
        "{dry}"
    );
    assert_eq!(lines[1], "changed t1: stored at revision 3");
    assert_eq!(lines[2], r#"  status: "failed" → "active""#);
    assert_eq!(
        lines[3],
        "missing t5: stored at revision 6, no tenant state in provisioning.events.v1"
    );
    assert!(lines[4].starts_with("kept t4:"), "{dry}");
    assert_eq!(
        lines[5],
        "unknown t9: no tenant state in provisioning.events.v1"
    );
    let written = render::text(&report(true), "provisioning.events.v1");
    assert!(
        written.contains("changed t1: revision 3 → 4\n"),
        "{written}"
    );
}

#[test]
fn the_document_says_whether_the_store_caught_up() {
    let document = serde_json::to_value(ReplayDocument::new(&report(false))).unwrap();
    assert_eq!(document["dry_run"], true);
    assert_eq!(document["caught_up"], false);
    assert_eq!(document["passed_over"], 3);
    assert_eq!(
        document["differences"][0],
        serde_json::json!({"tenant_id": "t1", "change": "changed", "revision": 3,
            "fields": [{"field": "status", "stored": "failed", "rebuilt": "active"}]})
    );
    assert_eq!(document["newer_in_store"], serde_json::json!(["t4"]));
    assert_eq!(document["missing"], serde_json::json!(["t5"]));
    assert_eq!(document["unknown"], serde_json::json!(["t9"]));
    // A missing context alone: the store differs from the topic.
    let mut only_missing = report(true);
    only_missing.differences.clear();
    let document = serde_json::to_value(ReplayDocument::new(&only_missing)).unwrap();
    assert_eq!(document["caught_up"], false);
    assert_eq!(document["dry_run"], false);
    let mut same = only_missing;
    same.missing.clear();
    let document = serde_json::to_value(ReplayDocument::new(&same)).unwrap();
    assert_eq!(document["caught_up"], true);
}

#[test]
fn a_failed_check_says_what_differs_and_what_is_missing() {
    let topic = "provisioning.events.v1";
    let both = render::not_caught_up(&report(false), topic);
    assert_eq!(
        both,
        "1 tenant context(s) differ from the rebuild; 1 stored context(s) have no tenant state \
         in provisioning.events.v1 (missing: has the topic lost records? `--delete-missing` \
         deletes them)"
    );
    let mut only_missing = report(false);
    only_missing.differences.clear();
    assert!(
        render::not_caught_up(&only_missing, topic).starts_with("1 stored context(s) have no"),
        "{}",
        render::not_caught_up(&only_missing, topic)
    );
}
