//! One commerce event's trace crosses every hop: `tenantry publish` (its
//! real code, in process) → provisioner (record, transaction, each saga
//! step) → relay → projector (record, context write) → the context API's
//! cache (changelog apply) → an HTTP request sent with that trace's
//! `traceparent`. The services run in process on the local stack (real
//! Kafka and PostgreSQL); their spans are collected with the SDK's
//! in-memory exporter behind the same layer a service builds for OTLP.

use crate::support::{Stack, bootstrap, get_json, wait_for};
use clap::Parser as _;
use opentelemetry::trace::{SpanKind, TraceId};
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};
use std::sync::Arc;
use std::time::Duration;
use tenantry_context_api::{ContextCache, ContextSource, changelog};
use tenantry_kafka::KafkaConfig;
use tenantry_sagas::SagaKind;
use tracing_subscriber::layer::SubscriberExt as _;

/// The value of attribute `key` of `span`, if set.
fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|KeyValue { key: k, .. }| k.as_str() == key)
        .map(|kv| &kv.value)
}

fn text(span: &SpanData, key: &str) -> String {
    attribute(span, key).map_or_else(String::new, |v| v.as_str().into_owned())
}

/// The span of `trace` named `name`; panics listing the trace's spans.
fn named<'a>(spans: &'a [SpanData], trace: TraceId, name: &str) -> &'a SpanData {
    spans
        .iter()
        .find(|s| s.span_context.trace_id() == trace && s.name == name)
        .unwrap_or_else(|| {
            let names: Vec<&str> = spans
                .iter()
                .filter(|s| s.span_context.trace_id() == trace)
                .map(|s| s.name.as_ref())
                .collect();
            panic!("no span {name:?} in the event's trace; it has {names:?}")
        })
}

/// The Kafka attributes of a consumer's `process` span.
fn assert_kafka_process(span: &SpanData, topic: &str, tenant: &str) {
    assert_eq!(span.span_kind, SpanKind::Consumer, "{}", span.name);
    assert_eq!(text(span, "messaging.system"), "kafka");
    assert_eq!(text(span, "messaging.operation.type"), "process");
    assert_eq!(text(span, "messaging.destination.name"), topic);
    assert_eq!(text(span, "messaging.kafka.message.key"), tenant);
    assert!(
        attribute(span, "messaging.kafka.destination.partition").is_some(),
        "{}",
        span.name
    );
    assert!(
        attribute(span, "messaging.kafka.message.offset").is_some(),
        "{}",
        span.name
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_events_trace_crosses_every_hop() {
    let exporter = InMemorySpanExporter::default();
    let traces = tenantry_telemetry::trace::layer_with_exporter(exporter.clone(), "tenantry-test");
    let subscriber = tracing_subscriber::registry().with(traces.layer);
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber of the test");

    let stack = Stack::start().await;
    // A context API whose cache follows the changelog (the projector's
    // output), as `tenantry context-api` runs it.
    let cache = Arc::new(ContextCache::new(16 * 1024 * 1024));
    let (follower, _task) = changelog::follow(
        KafkaConfig::new(bootstrap(), "it-traces"),
        stack.topics.changelog.clone(),
        cache.clone(),
        stack.shutdown.clone(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(tenantry_context_api::serve_source(
        listener,
        ContextSource::cached(cache, follower, None),
        None,
        stack.shutdown.clone(),
    ));

    // `tenantry publish`, in process: its real command-line path.
    let cli = tenantry_cli::Cli::try_parse_from([
        "tenantry",
        "publish",
        "tenant_created",
        "--tenant",
        "tr1",
        "--sequence",
        "1",
        "--site",
        "traced",
        "--owner-email",
        "owner@traced.test",
        "--country",
        "FR",
        "--bootstrap",
        &bootstrap(),
        "--topic-suffix",
        &stack.suffix,
    ])
    .expect("publish arguments");
    tenantry_cli::run(cli).await.expect("publish");

    let url = format!("{api}/v1/tenants/tr1/context");
    wait_for(
        Duration::from_secs(90),
        "tr1's context in the cache",
        || {
            let url = url.clone();
            async move { (get_json(&url).await.0 == 200).then_some(()) }
        },
    )
    .await;

    let commerce = stack.topics.commerce.clone();
    let publish_name = format!("send {commerce}");
    let publish = exporter
        .get_finished_spans()
        .unwrap()
        .into_iter()
        .find(|s| s.name == publish_name)
        .expect("the publish span");
    let trace = publish.span_context.trace_id();
    assert_eq!(publish.span_kind, SpanKind::Producer);
    assert_eq!(text(&publish, "messaging.system"), "kafka");
    assert_eq!(text(&publish, "messaging.destination.name"), commerce);

    // An edge's request carrying the event's trace context.
    let traceparent = format!("00-{trace}-{}-01", publish.span_context.span_id());
    let response = reqwest::Client::new()
        .get(&url)
        .header("traceparent", &traceparent)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let provisioning = stack.topics.provisioning.clone();
    let changelog = stack.topics.changelog.clone();
    let route = "GET /v1/tenants/{tenant_id}/context";
    let steps: Vec<String> = SagaKind::ProvisionTenant
        .steps()
        .iter()
        .map(|step| format!("saga step {}", step.name()))
        .collect();
    let mut expected: Vec<String> = vec![
        format!("process {commerce}"),
        format!("send {provisioning}"),
        format!("process {provisioning}"),
        "INSERT tenant_contexts".into(),
        format!("process {changelog}"),
        route.into(),
    ];
    expected.extend(steps.iter().cloned());
    // Spans are exported as they end: wait until every hop's has (or 30 s;
    // then the assertions below name the missing span).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let spans = loop {
        let spans = exporter.get_finished_spans().unwrap();
        let has = |name: &str| {
            spans
                .iter()
                .any(|s| s.span_context.trace_id() == trace && s.name == name)
        };
        let transaction = spans
            .iter()
            .any(|s| s.span_context.trace_id() == trace && s.name.ends_with(" provisioner"));
        let complete = transaction && expected.iter().all(|name| has(name));
        if complete || tokio::time::Instant::now() > deadline {
            break spans;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for name in &expected {
        named(&spans, trace, name);
    }

    // Kafka hops: the semantic conventions' messaging attributes.
    assert_kafka_process(
        named(&spans, trace, &format!("process {commerce}")),
        &commerce,
        "tr1",
    );
    assert_kafka_process(
        named(&spans, trace, &format!("process {provisioning}")),
        &provisioning,
        "tr1",
    );
    assert_kafka_process(
        named(&spans, trace, &format!("process {changelog}")),
        &changelog,
        "tr1",
    );
    let relay = named(&spans, trace, &format!("send {provisioning}"));
    assert_eq!(relay.span_kind, SpanKind::Producer);
    assert_eq!(text(relay, "messaging.operation.type"), "send");
    assert_eq!(text(relay, "messaging.destination.name"), provisioning);

    // The provisioner's transaction and the projector's write: `db.*`.
    let transaction = spans
        .iter()
        .find(|s| s.span_context.trace_id() == trace && s.name.ends_with(" provisioner"))
        .expect("the provisioner's transaction span (BATCH or COMMIT provisioner) in the trace");
    assert_eq!(text(transaction, "db.system.name"), "postgresql");
    assert!(
        ["BATCH", "COMMIT"].contains(&text(transaction, "db.operation.name").as_str()),
        "{}",
        text(transaction, "db.operation.name")
    );
    let write = named(&spans, trace, "INSERT tenant_contexts");
    assert_eq!(text(write, "db.system.name"), "postgresql");
    assert_eq!(text(write, "db.operation.name"), "INSERT");
    assert_eq!(text(write, "db.collection.name"), "tenant_contexts");

    // Each of the seven steps, under the provisioning saga.
    for step in &steps {
        assert_eq!(
            text(named(&spans, trace, step), "saga.kind"),
            "provision_tenant"
        );
    }

    // The request continues the incoming traceparent: the publish span is
    // its parent.
    let request = named(&spans, trace, route);
    assert_eq!(request.span_kind, SpanKind::Server);
    assert_eq!(request.parent_span_id, publish.span_context.span_id());
    assert_eq!(text(request, "http.request.method"), "GET");
    assert_eq!(
        text(request, "http.route"),
        "/v1/tenants/{tenant_id}/context"
    );
    assert_eq!(text(request, "url.path"), "/v1/tenants/tr1/context");
    assert_eq!(
        attribute(request, "http.response.status_code"),
        Some(&Value::I64(200))
    );
    stack.stop().await;
}
