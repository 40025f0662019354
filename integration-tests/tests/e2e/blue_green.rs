//! The blue-green rebuild of the context store (README, "Blue-green rebuild
//! of the context store") on the local stack: a full replay into a fresh
//! database, a green projector (its own group, changelog off) keeping it
//! current, `replay --check` saying when it has caught up, and a context
//! API pointed at it.

use crate::rebuild::{changelog, id, run, settled};
use crate::support::{Stack, bootstrap, fresh_database, get_json, wait_for};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tenantry_kafka::KafkaConfig;
use tenantry_projector::{Changelog, ProjectorConfig};
use tenantry_sagas::{ContextChange, ProductState, TenantContexts};
use tenantry_schemas::{Codec, ProductKey};
use tenantry_store::{ContextStore, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_green_store_rebuilt_by_replay_catches_up_and_serves() {
    let stack = Stack::start().await;
    settled(&stack, &["g1"]).await;
    let green_url = fresh_database().await;
    let green = [("TENANTRY_CONTEXT_DATABASE_URL", green_url.as_str())];

    // 1. The full rebuild into the new store, publishing nothing: the
    //    APIs do not read that store yet.
    let published_by_blue = changelog(&stack, "g1").await.len();
    let (code, out, err) = run(&stack, &["replay", "--changelog", "off"], &green).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("added g1: revision 1"), "{out}");
    assert_eq!(changelog(&stack, "g1").await.len(), published_by_blue);
    let green_store = ContextStore::new(Store::connect(&green_url, 4).await.unwrap());
    assert_eq!(
        green_store.get(&id("g1")).await.unwrap(),
        stack.contexts.get(&id("g1")).await.unwrap(),
        "replay equals live"
    );

    // 2. An event after the replay: the green store is behind, and says so.
    stack.activate("g1", 2, "jira").await;
    crate::support::wait_for_product(&stack.api, "g1", "jira", "active").await;
    wait_for(Duration::from_secs(60), "blue settled", || async {
        let context = stack.contexts.get(&id("g1")).await.ok().flatten()?;
        context.state.pending_saga.is_none().then_some(())
    })
    .await;
    let (code, out, _) = run(&stack, &["replay", "--check", "--json"], &green).await;
    assert_eq!(code, 1, "not caught up yet: {out}");
    let document: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(document["caught_up"], false);
    assert_eq!(document["differences"][0]["tenant_id"], "g1");

    // 3. The green projector: its own group (from the topic's start, which
    //    the fold's sequence guard makes harmless), no changelog.
    let before: usize = changelog(&stack, "g1").await.len();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let contexts: Arc<dyn TenantContexts> = Arc::new(green_store.clone());
    let projector = tokio::spawn(tenantry_projector::run(
        ProjectorConfig {
            kafka: KafkaConfig::new(bootstrap(), "it-projector-green"),
            topics: stack.topics.clone(),
            group_id: format!("it-projector-green-{}", stack.suffix),
            instance_id: None,
            codec: Arc::new(Codec::embedded()),
            changelog: Changelog::Off,
        },
        contexts.clone(),
        shutdown.clone(),
    ));
    let jira = ProductKey::parse("jira").unwrap();
    wait_for(Duration::from_secs(60), "green has jira", || async {
        let context = green_store.get(&id("g1")).await.ok().flatten()?;
        (context.state.products.get(&jira).map(|p| p.state) == Some(ProductState::Active))
            .then_some(())
    })
    .await;

    // 4. Caught up: the check passes.
    let (code, out, err) = run(&stack, &["replay", "--check"], &green).await;
    assert_eq!(code, 0, "caught up: {out}{err}");
    assert!(out.contains("0 to write"), "{out}");

    // 5. The switch: a context API on the green store serves the context.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", listener.local_addr().unwrap());
    let served = tokio::spawn(tenantry_context_api::serve_contexts(
        listener,
        contexts.clone(),
        None,
        shutdown.clone(),
    ));
    let (status, body) = get_json(&format!("{api}/v1/tenants/g1/context")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["products"]["jira"]["state"], "active", "{body}");
    assert_eq!(
        body,
        stack.get("/v1/tenants/g1/context").await.1,
        "green serves as blue"
    );

    // The green projector published nothing: nothing was added while only
    // green wrote, and each context version is on the changelog once (the
    // blue projector's).
    let published = changelog(&stack, "g1").await;
    let mut versions: BTreeMap<i64, usize> = BTreeMap::new();
    for record in &published {
        let change: ContextChange =
            serde_json::from_slice(record.payload.as_deref().unwrap()).unwrap();
        *versions
            .entry(change.context.version.provisioning_sequence)
            .or_default() += 1;
    }
    assert!(versions.values().all(|n| *n == 1), "{versions:?}");
    assert_eq!(published.len(), before, "green published nothing");

    // 6. The green projector takes over the changelog: stopped, then
    //    started with the changelog on under a new group, it reads the topic
    //    from its start and publishes again each context its store has, so
    //    caches get green's versions, including any it applied while its
    //    changelog was off.
    shutdown.cancel();
    projector.await.unwrap().unwrap();
    served.await.unwrap().unwrap();
    let publishing = tokio_util::sync::CancellationToken::new();
    let projector = tokio::spawn(tenantry_projector::run(
        ProjectorConfig {
            kafka: KafkaConfig::new(bootstrap(), "it-projector-green-on"),
            topics: stack.topics.clone(),
            group_id: format!("it-projector-green-on-{}", stack.suffix),
            instance_id: None,
            codec: Arc::new(Codec::embedded()),
            changelog: Changelog::Publish,
        },
        contexts.clone(),
        publishing.clone(),
    ));
    let stored = green_store.get(&id("g1")).await.unwrap().unwrap();
    let last = wait_for(
        Duration::from_secs(60),
        "green's g1 on the changelog",
        || async {
            let published = changelog(&stack, "g1").await;
            (published.len() > before)
                .then(|| published.last().cloned())
                .flatten()
        },
    )
    .await;
    let change: ContextChange = serde_json::from_slice(last.payload.as_deref().unwrap()).unwrap();
    assert_eq!(
        change.context, stored,
        "the green store's context, as stored"
    );
    publishing.cancel();
    projector.await.unwrap().unwrap();
    stack.stop().await;
}
