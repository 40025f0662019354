//! CLI behaviour on bad input and redelivery, and its `--json` documents.

use crate::support::{Stack, bootstrap, fresh_database, fresh_topics, tenantry, wait_for_product};
use std::time::Duration;
use tenantry_kafka::{KafkaConfig, read_to_end};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_flags_exit_non_zero_with_one_line_naming_the_field() {
    let (suffix, _) = fresh_topics().await;
    let env = [
        ("TENANTRY_BOOTSTRAP", bootstrap()),
        ("TENANTRY_TOPIC_SUFFIX", suffix),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "publish",
                "product_activated",
                "--tenant",
                "t1",
                "--product",
                "jira",
            ],
            "seats",
        ),
        (
            &[
                "publish",
                "tenant_created",
                "--tenant",
                "T 1",
                "--site",
                "a",
                "--owner-email",
                "o@a.test",
                "--country",
                "DE",
            ],
            "tenant_id",
        ),
        (
            &[
                "publish",
                "tenant_created",
                "--tenant",
                "t1",
                "--site",
                "a",
                "--owner-email",
                "o@a.test",
                "--country",
                "DE",
                "--residency-pin",
                "mars",
            ],
            "residency_pin",
        ),
        (
            &[
                "publish",
                "licence_updated",
                "--tenant",
                "t1",
                "--sequence",
                "2",
                "--product",
                "jira",
                "--seats",
                "-3",
            ],
            "seats",
        ),
        (
            &["publish", "tenant_destroyed", "--tenant", "t1"],
            "sequence",
        ),
    ];
    for (args, field) in cases {
        let output = tenantry(args, &env).await;
        assert!(!output.status.success(), "{args:?} must fail");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            stderr.trim().lines().count(),
            1,
            "{args:?}: one line, got {stderr}"
        );
        assert!(stderr.contains(field), "{args:?}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_with_a_bad_line_sends_nothing() {
    let (suffix, topics) = fresh_topics().await;
    let file = std::env::temp_dir().join(format!("tenantry-it-{suffix}.jsonl"));
    std::fs::write(
        &file,
        "{\"kind\":\"tenant_destroyed\",\"tenant_id\":\"t1\",\"sequence\":1}\n{\"kind\":\"product_suspended\",\"tenant_id\":\"t1\",\"sequence\":2}\n",
    )
    .unwrap();
    let env = [
        ("TENANTRY_BOOTSTRAP", bootstrap()),
        ("TENANTRY_TOPIC_SUFFIX", suffix),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let output = tenantry(&["publish", "--file", file.to_str().unwrap()], &env).await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("line 2: product:"), "{stderr}");
    let sent = read_to_end(
        &KafkaConfig::new(bootstrap(), "it-reader"),
        &topics.commerce,
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    assert!(sent.is_empty(), "nothing published, found {}", sent.len());
    std::fs::remove_file(file).ok();
}

/// Case D2's kind: the same event delivered twice starts one saga.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redelivered_event_is_applied_once() {
    let stack = Stack::start().await;
    let id = uuid::Uuid::new_v4().to_string();
    let created = [
        "publish",
        "tenant_created",
        "--tenant",
        "t5",
        "--site",
        "five",
        "--owner-email",
        "o@five.test",
        "--country",
        "CA",
        "--sequence",
        "1",
        "--event-id",
        id.as_str(),
    ];
    stack.cli(&created).await;
    stack.cli(&created).await;
    stack
        .cli(&[
            "publish",
            "product_activated",
            "--tenant",
            "t5",
            "--product",
            "confluence",
            "--seats",
            "3",
            "--sequence",
            "2",
        ])
        .await;
    let context = wait_for_product(&stack.api, "t5", "confluence", "active").await;
    assert_eq!(context["region"]["code"], "ca");
    let (sagas,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM sagas WHERE tenant_id = 't5'")
        .fetch_one(stack.store.pool())
        .await
        .unwrap();
    assert_eq!(sagas, 2, "one tenant saga and one product saga");
    let (events,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM tenant_events WHERE tenant_id = 't5'")
            .fetch_one(stack.store.pool())
            .await
            .unwrap();
    assert_eq!(
        events, 2,
        "the duplicate is not appended to the event stream"
    );
    stack.stop().await;
}

/// The data commands' `--json` on a fresh database and fresh topics: each
/// prints one JSON document on stdout, `[]` for an empty list and an object
/// of zero counts for a report (the documents' fields are checked with data
/// in `parking.rs` and in the CLI crate's `output` tests).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_commands_print_one_json_document_with_json() {
    let (suffix, _) = fresh_topics().await;
    let store = fresh_database().await;
    let contexts = fresh_database().await;
    let env = [
        ("TENANTRY_BOOTSTRAP", bootstrap()),
        ("TENANTRY_TOPIC_SUFFIX", suffix),
        ("TENANTRY_DATABASE_URL", store),
        ("TENANTRY_CONTEXT_DATABASE_URL", contexts),
        ("TENANTRY_CONTEXT_STORE", "sql".to_owned()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let json = |args: &'static [&'static str]| {
        let env = env.clone();
        async move {
            let output = tenantry(args, &env).await;
            assert!(
                output.status.success(),
                "tenantry {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
            serde_json::from_str::<serde_json::Value>(&stdout)
                .unwrap_or_else(|e| panic!("tenantry {args:?}: one JSON document: {e}: {stdout}"))
        }
    };
    let migrated = json(&["migrate", "--json"]).await;
    assert!(
        migrated["store"].as_str().unwrap().contains("tenantry_it_"),
        "{migrated}"
    );
    assert_eq!(migrated["context_store"]["kind"], "sql", "{migrated}");
    for args in [
        &["sagas", "list", "--json"][..],
        &["sagas", "list", "--parked", "--json"],
        &["dlq", "list", "--json"],
    ] {
        assert_eq!(json(args).await, serde_json::json!([]), "{args:?}");
    }
    assert_eq!(
        json(&["republish", "--json"]).await,
        serde_json::json!({"queued_tenants": 0, "outbox_pending": 0})
    );
    let published = json(&[
        "publish",
        "tenant_created",
        "--tenant",
        "j1",
        "--site",
        "jay",
        "--owner-email",
        "o@jay.test",
        "--country",
        "DE",
        "--sequence",
        "1",
        "--json",
    ])
    .await;
    let row = &published["published"][0];
    assert_eq!(
        (&row["kind"], &row["tenant_id"], &row["sequence"]),
        (
            &serde_json::json!("tenant_created"),
            &serde_json::json!("j1"),
            &serde_json::json!(1)
        ),
        "{published}"
    );
    assert!(
        row["topic"]
            .as_str()
            .unwrap()
            .starts_with("commerce.lifecycle.v1-"),
        "{published}"
    );
    assert!(row["event_id"].as_str().unwrap().len() == 36, "{published}");
    assert_eq!(
        published["outcomes"],
        serde_json::Value::Null,
        "{published}"
    );
    assert_eq!(
        json(&["replay", "--json"]).await,
        serde_json::json!({"dry_run": false, "records_read": 0, "passed_over": 0,
            "events_applied": 0, "skipped": 0, "tenants": 0, "unchanged": 0, "caught_up": true,
            "differences": [], "newer_in_store": [], "missing": [], "unknown": []})
    );
}
