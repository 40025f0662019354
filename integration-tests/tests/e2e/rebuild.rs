//! `tenantry replay` as a targeted and a full rebuild of the context store
//! on the local stack: compare-and-set writes whose revisions keep rising,
//! published on the changelog; `--dry-run`, which writes nothing; a replay
//! keeping (and reporting as missing) the contexts the topic has no tenant
//! state of, even of an empty topic, and one deleting them with
//! `--delete-missing`. The blue-green procedure is in `blue_green.rs`.

use crate::support::{Stack, bootstrap, fresh_topics, tenantry, wait_for};
use std::time::Duration;
use tenantry_kafka::{KafkaConfig, Record};
use tenantry_sagas::{ContextChange, TenantContext, TenantStatus};
use tenantry_schemas::TenantId;

pub fn id(tenant: &str) -> TenantId {
    TenantId::parse(tenant).unwrap()
}

/// `tenantry <args>` against `stack` with `extra` variables: (exit code,
/// stdout, stderr).
pub async fn run(stack: &Stack, args: &[&str], extra: &[(&str, &str)]) -> (i32, String, String) {
    let mut env = stack.env();
    env.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let output = tenantry(args, &env).await;
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Creates `tenants` and waits until each is active with no saga pending,
/// so nothing more is published for them.
pub async fn settled(stack: &Stack, tenants: &[&str]) {
    for (n, tenant) in tenants.iter().enumerate() {
        stack
            .create_tenant(tenant, &format!("site{n}"), "ada@acme.test", "DE")
            .await;
    }
    for tenant in tenants {
        wait_for(
            Duration::from_secs(60),
            &format!("{tenant} settled"),
            || async {
                let context = stack.contexts.get(&id(tenant)).await.ok().flatten()?;
                (context.state.status == TenantStatus::Active
                    && context.state.pending_saga.is_none())
                .then_some(())
            },
        )
        .await;
    }
}

/// The stored context and revision of `tenant` in `stack`'s store.
pub async fn stored(stack: &Stack, tenant: &str) -> Option<(TenantContext, i64)> {
    stack
        .contexts
        .get_many(&[&id(tenant)])
        .await
        .unwrap()
        .remove(&id(tenant))
}

/// Sets `tenant`'s stored status to `failed` behind the projector's back
/// (its revision stays).
async fn tamper(stack: &Stack, tenant: &str) {
    let done = sqlx::query(
        "UPDATE tenant_contexts SET context = REPLACE(context, '\"status\":\"active\"', \
         '\"status\":\"failed\"') WHERE tenant_id = $1",
    )
    .bind(tenant)
    .execute(stack.store.pool())
    .await
    .unwrap();
    assert_eq!(done.rows_affected(), 1);
    let (context, _) = stored(stack, tenant).await.unwrap();
    assert_eq!(context.state.status, TenantStatus::Failed, "tampered");
}

/// Every record of the changelog topic with `tenant`'s key, in order.
pub async fn changelog(stack: &Stack, tenant: &str) -> Vec<Record> {
    tenantry_kafka::read_to_end(
        &KafkaConfig::new(bootstrap(), "it-rebuild"),
        &stack.topics.changelog,
        Duration::from_secs(30),
    )
    .await
    .unwrap()
    .into_iter()
    .filter(|r| r.key.as_deref() == Some(tenant.as_bytes()))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_targeted_replay_rebuilds_the_named_tenant_only_and_publishes_its_new_revision() {
    let stack = Stack::start().await;
    settled(&stack, &["r1", "r2"]).await;
    tamper(&stack, "r1").await;
    tamper(&stack, "r2").await;
    let (tampered_r1, revision_r1) = stored(&stack, "r1").await.unwrap();
    let (tampered_r2, revision_r2) = stored(&stack, "r2").await.unwrap();

    // A dry run names the field, stored then rebuilt, and writes nothing.
    let (code, out, err) = run(&stack, &["replay", "--tenant", "r1", "--dry-run"], &[]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!("changed r1: stored at revision {revision_r1}\n")),
        "{out}"
    );
    assert!(out.contains("  status: \"failed\" → \"active\"\n"), "{out}");
    assert!(!out.contains("r2"), "r2 is not compared: {out}");
    let (code, out, err) = run(
        &stack,
        &["replay", "--tenant", "r1", "--dry-run", "--json"],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let document: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(document["dry_run"], true);
    assert_eq!(document["caught_up"], false);
    assert_eq!(
        document["differences"],
        serde_json::json!([{"tenant_id": "r1", "change": "changed", "revision": revision_r1,
            "fields": [{"field": "status", "stored": "failed", "rebuilt": "active"}]}])
    );
    assert_eq!(
        stored(&stack, "r1").await.unwrap(),
        (tampered_r1.clone(), revision_r1)
    );
    let published_before = changelog(&stack, "r1").await.len();

    // The write: r1 rebuilt at the next revision, r2 left tampered.
    let (code, out, err) = run(&stack, &["replay", "--tenant", "r1"], &[]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!(
            "changed r1: revision {revision_r1} → {}\n",
            revision_r1 + 1
        )),
        "{out}"
    );
    let (rebuilt, revision) = stored(&stack, "r1").await.unwrap();
    assert_eq!(revision, revision_r1 + 1, "the revision rises");
    assert_eq!(rebuilt.state.status, TenantStatus::Active);
    assert_eq!(rebuilt.version, tampered_r1.version);
    assert_eq!(
        stored(&stack, "r2").await.unwrap(),
        (tampered_r2, revision_r2),
        "a tenant not named is untouched"
    );
    let published = changelog(&stack, "r1").await;
    assert_eq!(published.len(), published_before + 1, "one new version");
    let last: ContextChange =
        serde_json::from_slice(published.last().unwrap().payload.as_deref().unwrap()).unwrap();
    assert_eq!(last.revision, revision_r1 + 1);
    assert_eq!(last.context, rebuilt);

    // Nothing left to do: a second replay writes and publishes nothing.
    let (code, out, err) = run(&stack, &["replay", "--tenant", "r1", "--check"], &[]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 unchanged, 0 to write"), "{out}");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_and_invalid_tenants_are_reported_and_the_end_of_a_partition_is_no_error() {
    let stack = Stack::start().await;
    settled(&stack, &["u1"]).await;
    let (code, out, err) = run(
        &stack,
        &["replay", "--tenant", "u1,nobody"],
        &[("TENANTRY_LOG", "tenantry_kafka=debug")],
    )
    .await;
    assert_eq!(code, 1, "an unknown tenant fails the command: {out}{err}");
    assert!(out.contains("unknown nobody: no tenant state in"), "{out}");
    assert!(
        err.contains("error: tenant: nobody has no tenant state in"),
        "{err}"
    );
    assert!(err.contains("End of partition"), "{err}");
    assert!(
        !err.lines().any(|l| l.contains("ERROR")),
        "nothing logged as ERROR: {err}"
    );
    let (code, _, err) = run(&stack, &["replay", "--tenant", "u1,No_Such!"], &[]).await;
    assert_eq!(code, 2, "a usage error: {err}");
    assert!(
        err.contains("--tenant") && err.contains("No_Such!"),
        "{err}"
    );
    stack.stop().await;
}

/// The incident `--delete-missing` guards against: a replay of a topic that
/// lost its records (here an empty one, named by `--topic-suffix`) against
/// a full store. Every stored context is reported missing and kept, in
/// text and JSON, `--check` fails saying why, and nothing is published.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_delete_missing_contexts_the_topic_has_no_state_of_are_reported_and_kept() {
    let stack = Stack::start().await;
    settled(&stack, &["m1", "m2"]).await;
    let mut ghost = stored(&stack, "m1").await.unwrap().0;
    ghost.tenant_id = id("ghost");
    ghost.state.site_host = Some("ghost.example.test".into());
    stack.contexts.put(&ghost).await.unwrap();
    let before = [
        stored(&stack, "m1").await.unwrap(),
        stored(&stack, "m2").await.unwrap(),
        stored(&stack, "ghost").await.unwrap(),
    ];
    let unchanged = || async {
        [
            stored(&stack, "m1").await.unwrap(),
            stored(&stack, "m2").await.unwrap(),
            stored(&stack, "ghost").await.unwrap(),
        ]
    };
    let (empty, empty_topics) = fresh_topics().await;
    let missing_line = |tenant: &str, revision: i64| {
        format!(
            "missing {tenant}: stored at revision {revision}, no tenant state in {}\n",
            empty_topics.provisioning
        )
    };
    let replay_empty = |extra: &'static [&'static str]| {
        let mut args = vec!["replay", "--topic-suffix", empty.as_str()];
        args.extend(extra);
        args
    };

    for extra in [&["--dry-run"][..], &[]] {
        let (code, out, err) = run(&stack, &replay_empty(extra), &[]).await;
        assert_eq!(code, 0, "{extra:?}: {out}{err}");
        assert!(out.contains("0 unchanged, 0 "), "{extra:?}: {out}");
        assert!(out.contains(", 3 missing\n"), "{extra:?}: {out}");
        for (tenant, (_, revision)) in ["m1", "m2", "ghost"].iter().zip(&before) {
            assert!(
                out.contains(&missing_line(tenant, *revision)),
                "{extra:?}: {out}"
            );
        }
        assert!(!out.contains("removed"), "{extra:?}: {out}");
        assert_eq!(unchanged().await, before, "{extra:?}: nothing deleted");
    }
    let (code, out, err) = run(&stack, &replay_empty(&["--json"]), &[]).await;
    assert_eq!(code, 0, "{err}");
    let document: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        document["missing"],
        serde_json::json!(["ghost", "m1", "m2"])
    );
    assert_eq!(document["differences"], serde_json::json!([]));
    assert_eq!(document["caught_up"], false);
    let (code, out, err) = run(&stack, &replay_empty(&["--check"]), &[]).await;
    assert_eq!(code, 1, "the store differs from the topic: {out}{err}");
    assert!(
        err.contains(&format!(
            "not caught up: 3 stored context(s) have no tenant state in {}",
            empty_topics.provisioning
        )),
        "{err}"
    );
    assert!(err.contains("--delete-missing"), "{err}");
    // Named: unknown (exit 1), and its context still kept.
    let (code, out, _) = run(&stack, &replay_empty(&["--tenant", "m1"]), &[]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&missing_line("m1", before[0].1)), "{out}");
    assert!(out.contains("unknown m1: no tenant state in"), "{out}");
    assert_eq!(unchanged().await, before, "nothing deleted");
    let published = tenantry_kafka::read_to_end(
        &KafkaConfig::new(bootstrap(), "it-rebuild"),
        &empty_topics.changelog,
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    assert!(published.is_empty(), "no tombstone: {published:?}");

    // The stack's own topic: m1 and m2 are rebuilt equal, ghost is missing.
    let (code, out, err) = run(&stack, &["replay"], &[]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("2 unchanged, 0 written, 1 missing\n"), "{out}");
    assert!(
        out.contains(&format!(
            "missing ghost: stored at revision 1, no tenant state in {}\n",
            stack.topics.provisioning
        )),
        "{out}"
    );
    assert_eq!(unchanged().await, before, "ghost kept");
    assert!(changelog(&stack, "ghost").await.is_empty(), "no tombstone");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delete_missing_deletes_a_context_the_topic_has_no_state_of_and_publishes_a_tombstone() {
    let stack = Stack::start().await;
    settled(&stack, &["f1"]).await;
    let mut ghost = stored(&stack, "f1").await.unwrap().0;
    ghost.tenant_id = id("ghost");
    ghost.state.site_host = Some("ghost.example.test".into());
    stack.contexts.put(&ghost).await.unwrap();
    let f1_before = stored(&stack, "f1").await.unwrap();
    // A cache following the changelog, which has ghost (as a projector
    // would have published it).
    let kafka = KafkaConfig::new(bootstrap(), "it-rebuild-cache");
    let change = ContextChange {
        revision: 1,
        context: ghost.clone(),
    };
    tenantry_kafka::Producer::new(&kafka)
        .unwrap()
        .send(
            &stack.topics.changelog,
            "ghost",
            &serde_json::to_vec(&change).unwrap(),
            &[],
        )
        .await
        .unwrap();
    let cache = std::sync::Arc::new(tenantry_context_api::ContextCache::new(1 << 20));
    let _follower = tenantry_context_api::changelog::follow(
        kafka,
        stack.topics.changelog.clone(),
        cache.clone(),
        stack.shutdown.clone(),
    );
    wait_for(Duration::from_secs(30), "cache has ghost", || async {
        cache.peek(&id("ghost")).map(|_| ())
    })
    .await;

    let (code, out, err) = run(&stack, &["replay", "--delete-missing", "--dry-run"], &[]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("removed ghost: stored at revision 1"), "{out}");
    assert!(
        stored(&stack, "ghost").await.is_some(),
        "a dry run deletes nothing"
    );

    let (code, out, err) = run(&stack, &["replay", "--delete-missing"], &[]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("removed ghost: deleted at revision 1, tombstone published"),
        "{out}"
    );
    assert!(stored(&stack, "ghost").await.is_none());
    assert_eq!(
        stored(&stack, "f1").await.unwrap(),
        f1_before,
        "f1 unchanged"
    );
    let ghost_records = changelog(&stack, "ghost").await;
    assert_eq!(ghost_records.len(), 2, "its version, then one tombstone");
    assert!(ghost_records[0].payload.is_some());
    assert!(
        ghost_records[1].payload.is_none(),
        "a tombstone has no value"
    );
    let (status, _) = stack.get("/v1/tenants/ghost/context").await;
    assert_eq!(status, 404);
    wait_for(
        Duration::from_secs(30),
        "the cache forgets ghost",
        || async { cache.peek(&id("ghost")).is_none().then_some(()) },
    )
    .await;
    assert!(cache.peek(&id("f1")).is_some(), "f1 stays cached");
    stack.stop().await;
}

/// The same rebuild on the DynamoDB context store (the AWS emulator): a
/// full replay into a table, a targeted one over a tampered context whose
/// revision keeps rising, a full one keeping a context the topic lacks,
/// then one deleting it with `--delete-missing`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replay_rebuilds_a_dynamodb_context_store_with_rising_revisions() {
    use tenantry_dynamodb::{DynamoConfig, DynamoContexts};
    use tenantry_sagas::TenantContexts;
    let stack = Stack::start().await;
    settled(&stack, &["d1"]).await;
    let table = format!("it-rebuild-{}", stack.suffix);
    let dynamo = DynamoContexts::new(DynamoConfig::from_env(table.clone()).expect("AWS_* set"));
    let env = [
        ("TENANTRY_CONTEXT_STORE", "dynamodb"),
        ("TENANTRY_DYNAMODB_TABLE", table.as_str()),
        ("TENANTRY_CHANGELOG", "off"),
    ];
    let revision = |tenant: &'static str| {
        let dynamo = dynamo.clone();
        async move {
            dynamo
                .get_many(&[&id(tenant)])
                .await
                .unwrap()
                .remove(&id(tenant))
                .map(|(_, revision)| revision)
        }
    };
    let (code, out, err) = run(&stack, &["replay"], &env).await;
    assert_eq!(code, 0, "{out}{err}");
    let live = stack.contexts.get(&id("d1")).await.unwrap().unwrap();
    assert_eq!(
        TenantContexts::get(&dynamo, &id("d1")).await.unwrap(),
        Some(live.clone())
    );
    assert_eq!(revision("d1").await, Some(1));

    let mut tampered = live.clone();
    tampered.state.status = TenantStatus::Failed;
    TenantContexts::put(&dynamo, &tampered).await.unwrap();
    let (code, out, err) = run(&stack, &["replay", "--tenant", "d1", "--dry-run"], &env).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("changed d1: stored at revision 2\n"), "{out}");
    assert!(out.contains("  status: \"failed\" → \"active\"\n"), "{out}");
    assert_eq!(revision("d1").await, Some(2), "a dry run writes nothing");
    let (code, out, err) = run(&stack, &["replay", "--tenant", "d1"], &env).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("changed d1: revision 2 → 3\n"), "{out}");
    assert_eq!(
        TenantContexts::get(&dynamo, &id("d1")).await.unwrap(),
        Some(live.clone())
    );
    assert_eq!(revision("d1").await, Some(3));

    let mut ghost = live;
    ghost.tenant_id = id("ghost");
    TenantContexts::put(&dynamo, &ghost).await.unwrap();
    let (code, out, err) = run(&stack, &["replay"], &env).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("missing ghost: stored at revision 1, "),
        "{out}"
    );
    assert_eq!(revision("ghost").await, Some(1), "kept");
    let (code, out, err) = run(&stack, &["replay", "--delete-missing"], &env).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("removed ghost: deleted at revision 1\n"),
        "{out}"
    );
    assert_eq!(revision("ghost").await, None);
    assert_eq!(revision("d1").await, Some(3), "d1 unchanged");
    dynamo.delete_table().await.unwrap();
    stack.stop().await;
}
