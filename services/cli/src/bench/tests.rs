use super::report::with_database;
use super::workload::settled;
use super::*;
use tenantry_sagas::{ProductState, TenantContext, TenantStatus};
use tenantry_schemas::TenantId;

#[test]
fn database_is_replaced_and_the_rest_kept() {
    let cases = [
        (
            "postgres://postgres@127.0.0.1:5432/tenantry",
            "postgres://postgres@127.0.0.1:5432/b",
        ),
        (
            "postgres://u:p@h/db?sslmode=disable",
            "postgres://u:p@h/b?sslmode=disable",
        ),
        ("postgres://h:5432", "postgres://h:5432/b"),
        ("postgresql://h?x=1", "postgresql://h/b?x=1"),
    ];
    for (url, expected) in cases {
        assert_eq!(with_database(url, "b").unwrap(), expected, "{url}");
    }
    assert!(with_database("nonsense", "b").is_err());
}

#[test]
fn colour_sequences_are_stripped() {
    assert_eq!(
        strip_ansi("\u{1b}[2m2026\u{1b}[0m \u{1b}[33m WARN\u{1b}[0m librdkafka: x"),
        "2026  WARN librdkafka: x"
    );
    assert_eq!(strip_ansi("plain"), "plain");
}

#[test]
fn rate_must_be_positive_and_finite() {
    assert_eq!(parse_rate("200"), Ok(200.0));
    assert_eq!(parse_rate("0.5"), Ok(0.5));
    for bad in ["0", "-1", "inf", "NaN", "fast"] {
        assert!(parse_rate(bad).is_err(), "{bad}");
    }
}

fn product(state: ProductState) -> tenantry_sagas::ProductContext {
    tenantry_sagas::ProductContext {
        state,
        licence: None,
        shard: None,
        database: None,
        installed_apps: Vec::new(),
        failure: None,
    }
}

#[test]
fn a_tenant_is_settled_when_its_sagas_ended() {
    let mut context = TenantContext::empty(TenantId::parse("t1").unwrap());
    context.state.status = TenantStatus::Provisioning;
    assert_eq!(settled(&context, 1), None);
    context.state.status = TenantStatus::Active;
    assert_eq!(settled(&context, 1), None, "no product yet");
    let jira = tenantry_schemas::ProductKey::parse("jira").unwrap();
    context
        .state
        .products
        .insert(jira.clone(), product(ProductState::Provisioning));
    assert_eq!(settled(&context, 1), None, "product not active yet");
    context
        .state
        .products
        .insert(jira.clone(), product(ProductState::Active));
    assert_eq!(settled(&context, 1), Some(Ok(())));
    assert_eq!(settled(&context, 2), None, "second product missing");
    context
        .state
        .products
        .insert(jira, product(ProductState::Failed));
    context.state.last_failure = Some("no shard".into());
    assert_eq!(settled(&context, 1), Some(Err("no shard".into())));
}

#[test]
fn stack_cpu_is_the_growth_per_name_and_new_processes_count_from_zero() {
    use super::processes::StackCpu;
    use std::collections::BTreeMap;
    use std::time::Duration;
    let before: BTreeMap<i32, (String, u64)> = [
        (10, ("postgres".to_owned(), 100)),
        (11, ("java".to_owned(), 50)),
        // Its pid was reused by another program in between.
        (12, ("postgres".to_owned(), 70)),
    ]
    .into();
    let after: BTreeMap<i32, (String, u64)> = [
        (10, ("postgres".to_owned(), 300)),
        (11, ("java".to_owned(), 60)),
        (12, ("java".to_owned(), 5)),
        (13, ("postgres".to_owned(), 40)),
    ]
    .into();
    let cpu = StackCpu::between(&before, &after, 100);
    assert_eq!(
        cpu.0,
        vec![
            ("java".to_owned(), Duration::from_millis(150)),
            ("postgres".to_owned(), Duration::from_millis(2400)),
        ]
    );
}

#[test]
fn measurements_are_subcommands_and_the_end_to_end_flags_stay() {
    use crate::{Cli, Command};
    use clap::Parser;
    let bench = |args: &[&str]| match Cli::try_parse_from(args).map(|cli| cli.command) {
        Ok(Command::Bench(args)) => Ok(args),
        Ok(other) => panic!("{other:?}"),
        Err(error) => Err(error.kind()),
    };
    let args = bench(&["tenantry", "bench", "--tenants", "5", "--rate", "20"]).unwrap();
    assert!(args.measure.is_none());
    assert_eq!(args.tenants, 5);
    match bench(&["tenantry", "bench", "kms", "--tenants", "7"])
        .unwrap()
        .measure
    {
        Some(Measure::Kms(kms)) => assert_eq!((kms.tenants, kms.seals), (7, 10_000)),
        other => panic!("{other:?}"),
    }
    match bench(&["tenantry", "bench", "contexts", "--contexts", "50"])
        .unwrap()
        .measure
    {
        Some(Measure::Contexts { args: contexts, .. }) => {
            assert_eq!((contexts.contexts, contexts.batch), (50, 100))
        }
        other => panic!("{other:?}"),
    }
    assert!(bench(&["tenantry", "bench", "--tenants", "5", "kms"]).is_err());
}
