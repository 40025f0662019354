//! Schema compatibility across git history (case A1: "CI checks that each
//! schema change is compatible in both directions").
//!
//! For every `.avsc` file compiled into the crate, every version of it in
//! `git log` is composed with the other current files and checked against the
//! current (working copy) composed schema of each event kind with
//! [`check_compatible`]: backward and forward, Confluent `FULL`. Without git
//! or without history (a fresh repository, an export) the test says what it
//! skipped and still checks the working copy's own rules.

use std::path::Path;
use std::process::Command;
use tenantry_schemas::catalog::{AVSC_FILES, Catalog, check_compatible};

fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| format!("git not runnable: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| format!("git output not UTF-8: {e}"))
}

/// `(commit, text)` of every committed version of `file` (relative to `dir`),
/// newest first.
fn history(dir: &Path, file: &str) -> Result<Vec<(String, String)>, String> {
    let log = git(dir, &["log", "--format=%H", "--", file])?;
    log.lines()
        .filter(|sha| !sha.is_empty())
        .map(|sha| {
            Ok((
                sha.to_owned(),
                git(dir, &["show", &format!("{sha}:./{file}")])?,
            ))
        })
        .collect()
}

/// Every incompatibility between two catalogs, one message each; an event
/// kind that disappeared counts (its records would stop decoding).
fn incompatibilities(previous: &Catalog, current: &Catalog) -> Vec<String> {
    previous
        .events()
        .filter_map(|old| match current.get(old.full_name()) {
            None => Some(format!("{}: event kind removed", old.full_name())),
            Some(now) => check_compatible(old.schema(), now.schema())
                .err()
                .map(|e| format!("{}: {e}", old.full_name())),
        })
        .collect()
}

/// The current files with `file` replaced by `text`.
fn with_version(file: &str, text: &str) -> Result<Catalog, String> {
    let files = AVSC_FILES.map(|(name, current)| (name, if name == file { text } else { current }));
    Catalog::compose(files).map_err(|e| e.to_string())
}

#[test]
fn every_committed_version_is_compatible_with_the_working_copy() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let current = Catalog::current();
    // The working copy against itself: the house rules (enum defaults).
    let mut failures = incompatibilities(current, current);
    let (mut checked, mut skipped) = (0, vec![]);
    for (file, _) in AVSC_FILES {
        match history(dir, file) {
            Err(reason) => skipped.push(format!("{file}: {reason}")),
            Ok(versions) if versions.is_empty() => {
                skipped.push(format!("{file}: not committed yet"))
            }
            Ok(versions) => {
                for (sha, text) in versions {
                    checked += 1;
                    match with_version(file, &text) {
                        Ok(old) => failures.extend(
                            incompatibilities(&old, current)
                                .into_iter()
                                .map(|f| format!("{file} at {sha}: {f}")),
                        ),
                        Err(e) => failures.push(format!("{file} at {sha} does not compose: {e}")),
                    }
                }
            }
        }
    }
    println!(
        "checked {checked} committed versions of {} files",
        AVSC_FILES.len()
    );
    for s in &skipped {
        println!("skipped {s}");
    }
    assert!(
        failures.is_empty(),
        "incompatible schema changes:\n{}",
        failures.join("\n")
    );
}

/// Edits one file of the current catalog.
fn edited(file: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Catalog {
    let text = AVSC_FILES
        .iter()
        .find(|(n, _)| *n == file)
        .map(|(_, t)| *t)
        .unwrap();
    let mut json: serde_json::Value = serde_json::from_str(text).unwrap();
    edit(&mut json);
    with_version(file, &json.to_string()).unwrap()
}

fn fields(json: &mut serde_json::Value) -> &mut Vec<serde_json::Value> {
    json["fields"].as_array_mut().unwrap()
}

/// The checker can fail: each breaking change is caught, each safe change passes.
#[test]
fn checker_rejects_incompatible_changes_and_accepts_safe_ones() {
    use serde_json::json;
    type Edit = Box<dyn FnOnce(&mut serde_json::Value)>;
    let cases: Vec<(&str, &str, Edit, Option<&str>)> = vec![
        (
            "new field without default",
            "product_activated.avsc",
            Box::new(|j| fields(j).push(json!({"name": "trial_days", "type": "int"}))),
            Some("backward"),
        ),
        (
            "required field removed",
            "tenant_created.avsc",
            Box::new(|j| fields(j).retain(|f| f["name"] != "site")),
            Some("forward"),
        ),
        (
            "field type changed",
            "product_activated.avsc",
            Box::new(|j| fields(j)[3]["type"] = json!("string")),
            Some("backward"),
        ),
        (
            "enum default removed",
            "edition.avsc",
            Box::new(|j| {
                j.as_object_mut().unwrap().remove("default");
            }),
            Some("no \"default\""),
        ),
        (
            "record renamed",
            "licence_updated.avsc",
            Box::new(|j| j["name"] = json!("LicenseUpdated")),
            Some("event kind removed"),
        ),
        (
            "optional field added",
            "tenant_created.avsc",
            Box::new(|j| {
                fields(j).push(
                    json!({"name": "region_hint", "type": ["null", "string"], "default": null}),
                )
            }),
            None,
        ),
        (
            "enum symbol added (reader default resolves it, case A1)",
            "edition.avsc",
            Box::new(|j| {
                j["symbols"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!("SUSPENDED_BILLING"))
            }),
            None,
        ),
        (
            "optional field removed",
            "tenant_destroyed.avsc",
            Box::new(|j| fields(j).retain(|f| f["name"] != "reason")),
            None,
        ),
        (
            "doc changed",
            "envelope.avsc",
            Box::new(|j| j["doc"] = json!("Changed.")),
            None,
        ),
    ];
    for (name, file, edit, expected) in cases {
        let next = edited(file, edit);
        // Previous = the current files, current = the edited ones.
        let problems = incompatibilities(Catalog::current(), &next);
        match expected {
            Some(needle) => assert!(
                problems.iter().any(|p| p.contains(needle)),
                "{name}: expected a problem containing {needle:?}, got {problems:?}"
            ),
            None => assert!(problems.is_empty(), "{name}: {problems:?}"),
        }
    }
}

/// The history reader itself, on a throwaway repository with two commits.
#[test]
fn history_lists_every_committed_version_newest_first() {
    if git(Path::new("."), &["--version"]).is_err() {
        println!("skipped: git not available");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let commit = |text: &str, message: &str| {
        std::fs::write(path.join("x.avsc"), text).unwrap();
        git(path, &["add", "x.avsc"]).unwrap();
        git(
            path,
            &[
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@example.com",
                "-c",
                "commit.gpgsign=false",
                "commit",
                "-q",
                "-m",
                message,
            ],
        )
        .unwrap();
    };
    git(path, &["init", "-q"]).unwrap();
    commit("v1", "first");
    commit("v2", "second");
    let versions: Vec<String> = history(path, "x.avsc")
        .unwrap()
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    assert_eq!(versions, ["v2", "v1"]);
}
