//! The tenant-state contract end to end: the tenant context is the newest
//! tenant state the provisioner published, so it says what the provisioner
//! decided and nothing else — a failed, skipped and re-sent creation, a
//! dead-lettered event, two records per commerce event at most, and a store
//! written by the previous contract (fixture `contract-v1`) repaired at the
//! provisioner's first start.

use crate::support::{DOMAIN, Stack, bootstrap, fresh_database, tenantry, wait_for};
use serde_json::Value;
use std::process::Output;
use std::time::Duration;
use tenantry_integration_tests::{Poll, wait_until};
use tenantry_kafka::{KafkaConfig, read_to_end};
use tenantry_sagas::{TenantContext, TenantStatus};
use tenantry_schemas::{Codec, ProvisioningEvent, TenantId};
use tenantry_store::{ContextStore, Store, tenant_states};

/// `tenantry <args>` with `env`, not asserting success: (exit ok, stdout, stderr).
async fn run(env: &[(&'static str, String)], args: &[&str]) -> (bool, String, String) {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let Output {
        status,
        stdout,
        stderr,
    } = tenantry(args, &env).await;
    (
        status.success(),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// `tenantry publish tenant_created … --wait` for `tenant` at `sequence` on `site`.
async fn create_and_wait(
    stack: &Stack,
    tenant: &str,
    sequence: &str,
    site: &str,
) -> (bool, String) {
    let owner = format!("owner@{site}.test");
    let (ok, stdout, stderr) = run(
        &stack.env(),
        &[
            "publish",
            "tenant_created",
            "--tenant",
            tenant,
            "--sequence",
            sequence,
            "--site",
            site,
            "--owner-email",
            &owner,
            "--country",
            "DE",
            "--wait",
        ],
    )
    .await;
    (ok, format!("{stdout}{stderr}"))
}

/// `tenantry publish product_activated` of jira with 5 seats at `sequence`,
/// with `extra` flags.
async fn activate_jira(
    stack: &Stack,
    tenant: &str,
    sequence: &str,
    extra: &[&str],
) -> (bool, String) {
    let mut args = vec![
        "publish",
        "product_activated",
        "--tenant",
        tenant,
        "--sequence",
        sequence,
        "--product",
        "jira",
        "--seats",
        "5",
    ];
    args.extend_from_slice(extra);
    let (ok, stdout, stderr) = run(&stack.env(), &args).await;
    (ok, format!("{stdout}{stderr}"))
}

/// Polls the tenant's context over HTTP until `ready` holds for it.
async fn context_when(
    stack: &Stack,
    tenant: &str,
    what: &str,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    wait_for(Duration::from_secs(60), what, || async {
        let (status, body) = stack.get(&format!("/v1/tenants/{tenant}/context")).await;
        (status == 200 && ready(&body)).then_some(body)
    })
    .await
}

/// The rejection of `sequence` in a context body, if any.
fn rejection(body: &Value, sequence: i64) -> Option<&Value> {
    body["rejections"]
        .as_array()
        .expect("rejections is an array")
        .iter()
        .find(|r| r["sequence"] == sequence)
}

/// The scenario through the CLI: a creation fails on a taken site,
/// the product event behind it waits, an operator skips, and a new creation
/// with a free site provisions the tenant. The context shows the site that
/// was provisioned, no product of the refused event, both refusals with
/// their reasons, and nothing of the failure or the parking that ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_skipped_failed_creation_and_a_new_one_show_only_what_was_provisioned() {
    let stack = Stack::start().await;
    let (ok, out) = create_and_wait(&stack, "a1", "1", "dup").await;
    assert!(ok, "{out}");
    assert!(out.contains("applied tenant=a1 sequence=1"), "{out}");

    let (ok, out) = create_and_wait(&stack, "a2", "1", "dup").await;
    assert!(
        !ok,
        "a2's creation on a taken site must not be applied: {out}"
    );
    assert!(out.contains("failed tenant=a2 sequence=1: "), "{out}");
    assert!(out.contains("taken"), "{out}");

    let (ok, out) = activate_jira(&stack, "a2", "2", &["--wait"]).await;
    assert!(!ok, "jira of a parked tenant must not be applied: {out}");
    assert!(out.contains("waiting tenant=a2 sequence=2: "), "{out}");
    // `--wait` answers as soon as the tenant is parked and the context is
    // behind sequence 2; the provisioner counts the event as waiting when it
    // records it.
    let parked = context_when(&stack, "a2", "a2 parked with 1 waiting", |body| {
        body["parked"]["waiting"] == 1
    })
    .await;
    assert!(parked["products"].get("jira").is_none(), "{parked}");
    assert_eq!(parked["version"]["commerce_sequence"], 1, "{parked}");
    assert_eq!(parked["parked"]["kind"], "saga_failed", "{parked}");
    assert_eq!(parked["status"], "failed", "{parked}");

    stack.cli(&["sagas", "skip", "a2"]).await;
    context_when(&stack, "a2", "a2 released to commerce sequence 2", |body| {
        body["version"]["commerce_sequence"] == 2
    })
    .await;

    let (ok, out) = create_and_wait(&stack, "a2", "3", "other").await;
    assert!(ok, "{out}");
    assert!(out.contains("applied tenant=a2 sequence=3"), "{out}");

    let (status, body) = stack.get("/v1/tenants/a2/context").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["site"]["name"], "other", "{body}");
    assert_eq!(body["site"]["host"], format!("other.{DOMAIN}"), "{body}");
    assert_eq!(body["products"], serde_json::json!({}), "{body}");
    let first = rejection(&body, 1).unwrap_or_else(|| panic!("rejection of 1: {body}"));
    assert_eq!(first["kind"], "tenant_created", "{body}");
    assert!(
        first["reason"]
            .as_str()
            .unwrap()
            .starts_with("skipped by an operator"),
        "{body}"
    );
    let second = rejection(&body, 2).unwrap_or_else(|| panic!("rejection of 2: {body}"));
    assert_eq!(second["kind"], "product_activated", "{body}");
    assert!(
        second["reason"]
            .as_str()
            .unwrap()
            .contains("an operator skipped it"),
        "{body}"
    );
    assert!(rejection(&body, 3).is_none(), "{body}");
    assert_eq!(body["last_failure"], Value::Null, "{body}");
    assert_eq!(body["parked"], Value::Null, "{body}");
    assert_eq!(body["status"], "active", "{body}");
    assert_eq!(body["version"]["commerce_sequence"], 3, "{body}");

    let (status, by_host) = stack
        .get(&format!("/v1/sites/other.{DOMAIN}/context"))
        .await;
    assert_eq!(status, 200, "{by_host}");
    assert_eq!(by_host, body, "the same context by host");
    let (_, dup) = stack.get(&format!("/v1/sites/dup.{DOMAIN}/context")).await;
    assert_eq!(dup["tenant_id"], "a1", "{dup}");
    stack.stop().await;
}

/// An event id reused by a different event is a producer bug: the second
/// event is dead-lettered, and nothing of it reaches the context.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reused_event_id_is_dead_lettered_and_never_reaches_the_context() {
    let stack = Stack::start().await;
    let event_id = uuid::Uuid::new_v4().to_string();
    let (ok, stdout, stderr) = run(
        &stack.env(),
        &[
            "publish",
            "tenant_created",
            "--tenant",
            "t1",
            "--sequence",
            "1",
            "--site",
            "tone",
            "--owner-email",
            "o@tone.test",
            "--country",
            "FR",
            "--event-id",
            &event_id,
            "--wait",
        ],
    )
    .await;
    assert!(
        ok && stdout.contains("applied tenant=t1 sequence=1"),
        "{stdout}{stderr}"
    );
    // `--wait` learns the event's fate from the provisioner's event stream.
    let (ok, out) = activate_jira(&stack, "t1", "2", &["--event-id", &event_id, "--wait"]).await;
    assert!(
        !ok && out.contains("dead-lettered tenant=t1 sequence=2: event_id")
            && out.contains("already identifies tenant_created sequence 1 of tenant t1"),
        "{out}"
    );
    // A new event at a sequence already released is stale, not applied.
    let (ok, out) = activate_jira(&stack, "t1", "1", &["--wait"]).await;
    assert!(!ok && out.contains("stale tenant=t1 sequence=1"), "{out}");

    let listed = wait_until(
        Duration::from_secs(60),
        "the reused id dead-lettered",
        || async {
            let (_, out, err) = run(&stack.env(), &["dlq", "list"]).await;
            if out
                .lines()
                .any(|l| l.contains("key=t1") && l.contains(&event_id))
            {
                Poll::Ready(out)
            } else {
                Poll::Waiting(format!("tenantry dlq list: {out}{err}"))
            }
        },
    )
    .await;
    assert_eq!(listed.lines().count(), 1, "{listed}");
    // The outbox is empty: no tenant-state record is on its way either.
    stack
        .until("the outbox drained", "SELECT COUNT(*) FROM outbox", 0)
        .await;
    let (status, body) = stack.get("/v1/tenants/t1/context").await;
    assert_eq!(status, 200, "{body}");
    assert!(body["products"].get("jira").is_none(), "{body}");
    assert_eq!(body["version"]["commerce_sequence"], 1, "{body}");
    assert_eq!(body["status"], "active", "{body}");
    assert!(body["rejections"].as_array().unwrap().is_empty(), "{body}");
    let codec = Codec::embedded();
    let config = KafkaConfig::new(bootstrap(), "it-count");
    for record in read_to_end(&config, &stack.topics.provisioning, Duration::from_secs(10))
        .await
        .unwrap()
    {
        let decoded = codec
            .decode_provisioning(record.payload.as_deref().unwrap())
            .await
            .unwrap();
        let ProvisioningEvent::TenantState(state) = decoded.event else {
            panic!("not a tenant state: {decoded:?}");
        };
        assert!(state.commerce_sequence <= 1, "{state:?}");
        assert!(state.products.is_empty(), "{state:?}");
    }
    stack.stop().await;
}

/// One tenant created and given one product (no apps): two commerce
/// records, and one tenant-state record per commerce event (admission and
/// the saga's end commit together) — at most four records in all, each a
/// tenant state. The saga's steps stay in the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_created_and_activated_tenant_costs_at_most_four_records() {
    let stack = Stack::start().await;
    let (ok, out) = create_and_wait(&stack, "l1", "1", "lean").await;
    assert!(ok && out.contains("applied tenant=l1 sequence=1"), "{out}");
    let (ok, out) = activate_jira(&stack, "l1", "2", &["--wait"]).await;
    assert!(ok && out.contains("applied tenant=l1 sequence=2"), "{out}");
    context_when(&stack, "l1", "l1 jira active", |body| {
        body["products"]["jira"]["state"] == "active"
    })
    .await;
    stack
        .until("the outbox drained", "SELECT COUNT(*) FROM outbox", 0)
        .await;

    let config = KafkaConfig::new(bootstrap(), "it-count");
    let read = |topic: String| {
        let config = config.clone();
        async move {
            read_to_end(&config, &topic, Duration::from_secs(10))
                .await
                .unwrap_or_else(|e| panic!("read {topic}: {e}"))
        }
    };
    let commerce = read(stack.topics.commerce.clone()).await;
    let provisioning = read(stack.topics.provisioning.clone()).await;
    let codec = Codec::embedded();
    let mut kinds = Vec::new();
    for record in &provisioning {
        let decoded = codec
            .decode_provisioning(record.payload.as_deref().expect("a payload"))
            .await
            .expect("a provisioning record decodes");
        kinds.push(decoded.event.kind());
        let ProvisioningEvent::TenantState(state) = &decoded.event else {
            panic!("only tenant states are written: {decoded:?}");
        };
        assert_eq!(decoded.envelope.tenant_id.as_str(), "l1", "{state:?}");
    }
    assert_eq!(commerce.len(), 2, "the two commerce events");
    assert!(
        commerce.len() + provisioning.len() <= 4,
        "{} commerce + {} provisioning records ({kinds:?})",
        commerce.len(),
        provisioning.len()
    );

    let shown = stack.cli(&["sagas", "show", "l1"]).await;
    for kind in ["provision_tenant", "provision_product"] {
        let line = shown
            .lines()
            .find(|l| l.contains(kind))
            .unwrap_or_else(|| panic!("{kind}: {shown}"));
        assert!(line.contains("completed"), "{line}");
        for step in [
            "record_licence",
            "create_site",
            "place_region",
            "store_metadata",
            "create_identity",
            "provision_database",
            "install_apps",
        ] {
            assert!(line.contains(step), "{step} in {line}");
        }
    }
    stack.stop().await;
}

/// The tenant's state as the provisioner's record says (`state()` of
/// the stored [`tenant_states::load`]).
async fn model(stack: &Stack, tenant: &TenantId) -> tenantry_schemas::TenantState {
    let mut tx = stack.store.pool().begin().await.expect("begin");
    let record = tenant_states::load(&mut tx, tenant).await.expect("record");
    tx.rollback().await.expect("rollback");
    record.state()
}

/// Waits until every tenant's context is the tenant-state record with
/// its latest provisioning sequence (`tenant_sequences`) and the outbox
/// is empty: the provisioner published and the projector applied.
async fn until_published(stack: &Stack, tenants: &[TenantId], what: &str) -> Vec<TenantContext> {
    wait_until(Duration::from_secs(60), what, || async {
        let outbox = stack.count("SELECT COUNT(*) FROM outbox").await;
        if outbox != 0 {
            return Poll::Waiting(format!("{outbox} record(s) in the outbox"));
        }
        let mut contexts = Vec::new();
        for tenant in tenants {
            let latest = stack
                .count(&format!(
                    "SELECT provisioning_seq FROM tenant_sequences WHERE tenant_id = '{tenant}'"
                ))
                .await;
            let context = match stack.contexts.get(tenant).await {
                Ok(Some(context)) => context,
                other => return Poll::Waiting(format!("{tenant}'s context: {other:?}")),
            };
            let version = context.version;
            if version.event_id.is_none() || version.provisioning_sequence != latest {
                return Poll::Waiting(format!(
                    "{tenant}'s context is at {version:?}; its latest record is {latest}"
                ));
            }
            contexts.push(context);
        }
        Poll::Ready(contexts)
    })
    .await
}

/// A store written by the previous contract (`fixtures/contract-v1`): at
/// its first start the provisioner rebuilds every tenant's record from the
/// admission tables and the sagas and publishes it, and the contexts then
/// say what was provisioned — f2 under the site it got, without the jira it
/// was refused — equal to the provisioner's records; `tenantry republish`
/// and a replay into an empty store give the same contexts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_of_the_previous_contract_is_republished_and_its_contexts_repaired() {
    let url = fresh_database().await;
    let migrated = Store::connect(&url, 4).await.expect("migrations 1-7");
    let fixture = include_str!("../../fixtures/contract-v1/store.sql");
    let mut statements = 0;
    for (number, line) in fixture.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        sqlx::raw_sql(line)
            .execute(migrated.pool())
            .await
            .unwrap_or_else(|e| panic!("store.sql line {}: {e}", number + 1));
        statements += 1;
    }
    assert_eq!(statements, 127, "every statement of the fixture");
    migrated.pool().close().await;

    let services = Stack::start_on(url.clone()).await;
    let tenants: Vec<TenantId> = ["f1", "f2", "f3", "f4", "f5"]
        .iter()
        .map(|t| TenantId::parse(t).unwrap())
        .collect();
    let live = until_published(
        &services,
        &tenants,
        "the five tenants republished and projected",
    )
    .await;
    assert_eq!(
        services
            .count("SELECT COUNT(*) FROM tenant_states WHERE ledger = '{}'")
            .await,
        0,
        "every record has its ledger"
    );
    for context in &live {
        assert_eq!(
            context.state,
            model(&services, &context.tenant_id).await,
            "{}'s context is the provisioner's record",
            context.tenant_id
        );
    }

    let (status, f1) = services.get("/v1/tenants/f1/context").await;
    assert_eq!(status, 200, "{f1}");
    assert_eq!(f1["status"], "active", "{f1}");
    assert_eq!(f1["products"]["jira"]["state"], "active", "{f1}");
    assert_eq!(
        f1["products"]["jira"]["licence"],
        serde_json::json!({ "seats": 20, "edition": "enterprise" }),
        "{f1}"
    );
    assert_eq!(f1["products"]["jira"]["shard"], "de-shard-1", "{f1}");
    assert_eq!(f1["products"]["jira"]["database"], "t_f1__jira", "{f1}");
    assert_eq!(f1["products"]["confluence"]["state"], "suspended", "{f1}");
    assert_eq!(f1["version"]["commerce_sequence"], 5, "{f1}");

    let (status, f2) = services.get("/v1/tenants/f2/context").await;
    assert_eq!(status, 200, "{f2}");
    assert_eq!(f2["site"]["name"], "ftwo", "{f2}");
    assert_eq!(f2["site"]["host"], format!("ftwo.{DOMAIN}"), "{f2}");
    assert!(f2["products"].get("jira").is_none(), "{f2}");
    let first = rejection(&f2, 1).unwrap_or_else(|| panic!("rejection of 1: {f2}"));
    assert_eq!(first["kind"], "tenant_created", "{f2}");
    assert!(
        first["reason"]
            .as_str()
            .unwrap()
            .starts_with("skipped by an operator"),
        "{f2}"
    );
    let second = rejection(&f2, 2).unwrap_or_else(|| panic!("rejection of 2: {f2}"));
    assert_eq!(second["kind"], "product_activated", "{f2}");
    assert!(rejection(&f2, 3).is_none(), "{f2}");
    assert_eq!(f2["status"], "active", "{f2}");
    assert_eq!(f2["parked"], Value::Null, "{f2}");
    assert_eq!(f2["last_failure"], Value::Null, "{f2}");
    let (_, by_host) = services
        .get(&format!("/v1/sites/ftwo.{DOMAIN}/context"))
        .await;
    assert_eq!(by_host, f2, "f2 by host");

    let (status, f3) = services.get("/v1/tenants/f3/context").await;
    assert_eq!(status, 410, "f3 is destroyed: {f3}");
    let f3 = live
        .iter()
        .find(|c| c.tenant_id.as_str() == "f3")
        .expect("f3's context");
    assert_eq!(f3.state.status, TenantStatus::Destroyed, "{f3:?}");
    // The previous projection showed jira as still provisioning.
    let jira = f3
        .state
        .products
        .values()
        .next()
        .unwrap_or_else(|| panic!("f3's jira: {f3:?}"));
    assert_eq!(f3.state.products.len(), 1, "{f3:?}");
    assert_eq!(
        jira.state,
        tenantry_sagas::ProductState::Deactivated,
        "{f3:?}"
    );

    let (status, f4) = services.get("/v1/tenants/f4/context").await;
    assert_eq!(status, 200, "{f4}");
    assert_eq!(f4["parked"]["kind"], "sequence_gap", "{f4}");
    assert_eq!(f4["parked"]["waiting"], 1, "{f4}");
    assert_eq!(f4["version"]["commerce_sequence"], 1, "{f4}");
    assert!(f4["products"].get("jira").is_none(), "{f4}");

    let (status, f5) = services.get("/v1/tenants/f5/context").await;
    assert_eq!(status, 200, "{f5}");
    let refused = rejection(&f5, 2).unwrap_or_else(|| panic!("rejection of 2: {f5}"));
    assert_eq!(refused["kind"], "product_deactivated", "{f5}");
    assert_eq!(f5["status"], "active", "{f5}");

    // Republishing every tenant changes no context but its version.
    let (ok, stdout, stderr) = run(&services.env(), &["republish"]).await;
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains("queued the state of 5 tenant(s)"),
        "{stdout}"
    );
    let republished = until_published(
        &services,
        &tenants,
        "the five tenants republished by the CLI",
    )
    .await;
    for (before, after) in live.iter().zip(&republished) {
        assert_eq!(before.state, after.state, "{}", before.tenant_id);
        assert!(
            after.version.provisioning_sequence > before.version.provisioning_sequence,
            "{after:?}"
        );
    }

    let replay_url = fresh_database().await;
    let mut env = services.env();
    env.push(("TENANTRY_CONTEXT_DATABASE_URL", replay_url.clone()));
    let (ok, stdout, stderr) = run(&env, &["replay"]).await;
    assert!(ok, "{stdout}{stderr}");
    let replayed = ContextStore::new(Store::connect(&replay_url, 2).await.expect("replay store"))
        .all()
        .await
        .expect("replayed contexts");
    assert_eq!(
        replayed,
        services.contexts.all().await.expect("live contexts"),
        "replay equals live"
    );
    services.stop().await;
}
