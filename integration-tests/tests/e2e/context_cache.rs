//! The context API's cache against the real stack: two instances follow the
//! changelog — one with the context store behind it, one memory-only
//! (`tenantry context-sidecar`'s shape) — and both serve each new version,
//! answer `ETag`/`If-None-Match`, and wait for `min_sequence`.

use crate::support::{Stack, bootstrap, get_json, wait_for, wait_for_product};
use reqwest::StatusCode;
use std::sync::Arc;
use std::time::Duration;
use tenantry_context_api::{ContextCache, ContextSource, ContextView, changelog};
use tenantry_kafka::KafkaConfig;
use tenantry_sagas::TenantContexts;
use tenantry_schemas::TenantId;

struct Instance {
    api: String,
    cache: Arc<ContextCache>,
}

async fn start_instance(stack: &Stack, with_store: bool) -> Instance {
    let cache = Arc::new(ContextCache::new(64 * 1024 * 1024));
    let (follower, _task) = changelog::follow(
        KafkaConfig::new(bootstrap(), "it-context-cache"),
        stack.topics.changelog.clone(),
        cache.clone(),
        stack.shutdown.clone(),
    );
    let store: Option<Arc<dyn TenantContexts>> =
        with_store.then(|| Arc::new(stack.contexts.clone()) as Arc<dyn TenantContexts>);
    let source = ContextSource::cached(cache.clone(), follower, store);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(tenantry_context_api::serve_source(
        listener,
        source,
        None,
        stack.shutdown.clone(),
    ));
    wait_for(Duration::from_secs(60), "instance ready", || {
        let url = format!("{api}/readyz");
        async move { (get_json(&url).await.0 == 200).then_some(()) }
    })
    .await;
    Instance { api, cache }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn api_instances_and_a_sidecar_serve_each_version_from_their_caches() {
    let stack = Stack::start().await;
    let with_store = start_instance(&stack, true).await;
    let sidecar = start_instance(&stack, false).await;
    let client = reqwest::Client::new();

    // Before any event: a warm memory-only instance knows the tenant is unknown.
    assert_eq!(
        get_json(&format!("{}/v1/tenants/k1/context", sidecar.api))
            .await
            .0,
        404
    );

    stack
        .create_tenant("k1", "kilo", "ada@acme.test", "DE")
        .await;
    // Read-your-writes: each instance answers once it has sequence 1.
    for instance in [&with_store, &sidecar] {
        let url = format!(
            "{}/v1/tenants/k1/context?min_sequence=1&wait_ms=10000",
            instance.api
        );
        wait_for(Duration::from_secs(60), "sequence 1 served", || {
            let (client, url) = (client.clone(), url.clone());
            async move {
                let response = client.get(&url).send().await.unwrap();
                let sequence = response
                    .headers()
                    .get("tenantry-commerce-sequence")
                    .and_then(|v| v.to_str().ok()?.parse::<i64>().ok());
                (response.status() == StatusCode::OK && sequence >= Some(1)).then_some(())
            }
        })
        .await;
    }
    stack.activate("k1", 2, "jira").await;
    for instance in [&with_store, &sidecar] {
        wait_for_product(&instance.api, "k1", "jira", "active").await;
    }

    // Both serve exactly the store's version, with its provisioning sequence as ETag.
    let tenant = TenantId::parse("k1").unwrap();
    let context = stack.contexts.get(&tenant).await.unwrap().unwrap();
    let version = context.version.provisioning_sequence;
    let expected = serde_json::to_value(ContextView::from(&context)).unwrap();
    let host = context.state.site_host.clone().expect("a host");
    for instance in [&with_store, &sidecar] {
        for path in [
            "/v1/tenants/k1/context".to_owned(),
            format!("/v1/sites/{host}/context"),
        ] {
            let response = client
                .get(format!("{}{path}", instance.api))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            let etag = response.headers()["etag"].to_str().unwrap().to_owned();
            assert_eq!(etag, format!("\"{version}\""), "{path}");
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body, expected, "{path}");
            let again = client
                .get(format!("{}{path}", instance.api))
                .header("if-none-match", &etag)
                .send()
                .await
                .unwrap();
            assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
        }
        // Served from memory: the cache holds that very version.
        assert_eq!(instance.cache.get(&tenant).unwrap().version, version);
    }

    // A sequence not reached within the wait: the version there is.
    let response = client
        .get(format!(
            "{}/v1/tenants/k1/context?min_sequence=99&wait_ms=300",
            sidecar.api
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["tenantry-commerce-sequence"], "2");

    stack
        .publish(&["tenant_destroyed", "--tenant", "k1", "--sequence", "3"])
        .await;
    for instance in [&with_store, &sidecar] {
        let url = format!(
            "{}/v1/tenants/k1/context?min_sequence=3&wait_ms=10000",
            instance.api
        );
        wait_for(Duration::from_secs(60), "k1 gone", || {
            let url = url.clone();
            async move { (get_json(&url).await.0 == 410).then_some(()) }
        })
        .await;
        let (status, _) = get_json(&format!("{}/v1/sites/{host}/context", instance.api)).await;
        assert_eq!(status, 410);
    }
    stack.stop().await;
}
