//! Every service serves Prometheus metrics: the provisioner and the
//! projector on `--metrics-listen`, the context API and the sidecar on their
//! own `--listen` address. Four `tenantry` processes on the local stack
//! (keys in moto's KMS) provision a tenant and its product, and dead-letter
//! a malformed record; each scrape then shows the series the README lists,
//! with the values that work implies.

use crate::support::{DOMAIN, bootstrap, fresh_database, fresh_topics, wait_for, wait_for_product};
use std::time::Duration;
use tenantry_integration_tests::{RunDir, ServiceProcess, tenantry, tenantry_command};
use tenantry_kafka::{KafkaConfig, Producer};

/// The sum of the samples of `name` whose labels include every pair of
/// `labels`; `None` when there is no such sample. Prometheus text format
/// 0.0.4: `name{a="x",b="y"} value` or `name value`.
fn sum(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut total = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (metric, label_text) = match series.split_once('{') {
            Some((metric, rest)) => (metric, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        if metric != name
            || !labels.iter().all(|(k, v)| {
                label_text
                    .split(',')
                    .any(|pair| pair == format!("{k}=\"{v}\""))
            })
        {
            continue;
        }
        let value: f64 = value.parse().unwrap_or_else(|e| panic!("{line}: {e}"));
        *total.get_or_insert(0.0) += value;
    }
    total
}

#[test]
fn sum_adds_the_samples_whose_labels_match() {
    let text = "# HELP m_total x\nm_total{a=\"1\",b=\"2\"} 3\nm_total{a=\"1\",b=\"3\"} 4\nm_total{a=\"2\"} 5\nn 7\n";
    assert_eq!(sum(text, "m_total", &[("a", "1")]), Some(7.0));
    assert_eq!(sum(text, "m_total", &[]), Some(12.0));
    assert_eq!(sum(text, "n", &[]), Some(7.0));
    assert_eq!(sum(text, "m_total", &[("a", "3")]), None);
}

/// A free loopback port (bound, then released for the child to bind).
fn free_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// The admin's HS256 secret (its routes refuse to run unauthenticated).
const ADMIN_SECRET: &str = "metrics-test-admin-secret-0123456789abcdef";

async fn scrape(address: &str) -> String {
    let response = reqwest::get(format!("http://{address}/metrics"))
        .await
        .unwrap_or_else(|e| panic!("scrape {address}: {e}"));
    assert_eq!(response.status(), 200, "scrape {address}");
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    response.text().await.unwrap()
}

/// Waits (60 s at most) until `check` holds for a scrape of `address`;
/// returns that scrape.
async fn scrape_until(address: &str, what: &str, check: impl Fn(&str) -> bool) -> String {
    wait_for(Duration::from_secs(60), what, || async {
        let text = reqwest::get(format!("http://{address}/metrics"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        check(&text).then_some(text)
    })
    .await
}

fn at_least(text: &str, name: &str, labels: &[(&str, &str)], min: f64) -> bool {
    sum(text, name, labels).is_some_and(|v| v >= min)
}

/// `tenantry publish <args>` with `env`; asserts it succeeded.
async fn publish(env: &[(&str, String)], args: &[&str]) {
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut all = vec!["publish"];
    all.extend_from_slice(args);
    let output = tenantry(&all, &vars).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_service_serves_its_metrics() {
    let run = RunDir::new("metrics");
    let database_url = fresh_database().await;
    let (suffix, topics) = fresh_topics().await;
    let [
        provisioner_metrics,
        projector_metrics,
        api,
        sidecar,
        admin,
        admin_metrics,
    ] = [(); 6].map(|()| free_address());
    let env: Vec<(&str, String)> = vec![
        ("TENANTRY_BOOTSTRAP", bootstrap()),
        ("TENANTRY_TOPIC_SUFFIX", suffix.clone()),
        ("TENANTRY_GROUP_PREFIX", format!("it-metrics-{suffix}")),
        ("TENANTRY_DATABASE_URL", database_url.clone()),
        ("TENANTRY_SITE_DOMAIN", DOMAIN.into()),
        ("TENANTRY_KEY_SERVICE", "kms".into()),
        ("TENANTRY_WORKERS", "2".into()),
    ];
    let refs = |extra: &[(&'static str, &str)]| -> Vec<(&str, String)> {
        let mut all = env.clone();
        all.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        all
    };
    let start = |role: &str, vars: Vec<(&str, String)>| {
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        ServiceProcess::spawn(
            tenantry_command(&[role], &vars),
            &run.file(&format!("{role}.log")),
        )
        .expect("spawn tenantry (build it: cargo build --bin tenantry)")
    };
    let migrate: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let migrated = tenantry(&["migrate"], &migrate).await;
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );

    let mut services = vec![
        start(
            "provisioner",
            refs(&[("TENANTRY_METRICS_LISTEN", &provisioner_metrics)]),
        ),
        start(
            "projector",
            refs(&[("TENANTRY_METRICS_LISTEN", &projector_metrics)]),
        ),
        start("context-api", refs(&[("TENANTRY_LISTEN", &api)])),
        start("context-sidecar", refs(&[("TENANTRY_LISTEN", &sidecar)])),
        start(
            "admin",
            refs(&[
                ("TENANTRY_LISTEN", &admin),
                ("TENANTRY_METRICS_LISTEN", &admin_metrics),
                ("TENANTRY_API_JWT_SECRET", ADMIN_SECRET),
                ("TENANTRY_API_ALLOW", "tenantry=/admin/*"),
            ]),
        ),
    ];

    // A tenant of this run only: its KMS key is created here (moto keeps
    // the keys of earlier runs).
    let tenant = format!("m{}", &suffix[..8]);
    let owner = format!("o@{tenant}.test");
    publish(
        &env,
        &[
            "tenant_created",
            "--tenant",
            &tenant,
            "--sequence",
            "1",
            "--site",
            &tenant,
            "--owner-email",
            &owner,
            "--country",
            "DE",
        ],
    )
    .await;
    publish(
        &env,
        &[
            "product_activated",
            "--tenant",
            &tenant,
            "--sequence",
            "2",
            "--product",
            "jira",
            "--seats",
            "5",
        ],
    )
    .await;
    // Not Confluent framing: dead-lettered as `malformed`.
    let producer = Producer::new(&KafkaConfig::new(bootstrap(), "it-metrics")).unwrap();
    producer
        .send(&topics.commerce, &tenant, &[0, 0, 0, 0, 7], &[])
        .await
        .unwrap();

    let api_url = format!("http://{api}");
    wait_for_product(&api_url, &tenant, "jira", "active").await;
    wait_for_product(&format!("http://{sidecar}"), &tenant, "jira", "active").await;
    // Served from each cache: a hit.
    for base in [&api, &sidecar] {
        let (status, _) =
            crate::support::get_json(&format!("http://{base}/v1/tenants/{tenant}/context")).await;
        assert_eq!(status, 200);
    }

    let commerce = topics.commerce.as_str();
    let provisioner = scrape_until(&provisioner_metrics, "provisioner metrics", |text| {
        at_least(text, "tenantry_provisioner_records_dead_lettered_total", &[("reason", "malformed")], 1.0)
            && at_least(text, "tenantry_provisioner_sagas_finished_total", &[("outcome", "completed")], 2.0)
            && at_least(text, "tenantry_provisioner_records_relayed_total", &[], 1.0)
            // Sampled every 5 s; 0 once the relay caught up.
            && sum(text, "tenantry_provisioner_outbox_backlog", &[]) == Some(0.0)
            // librdkafka statistics every 5 s; 0 once the offsets are committed.
            && sum(text, "tenantry_provisioner_consumer_lag_records", &[("topic", commerce)])
                == Some(0.0)
    })
    .await;
    for (name, labels, min) in [
        (
            "tenantry_provisioner_records_consumed_total",
            vec![("topic", commerce)],
            3.0,
        ),
        (
            "tenantry_provisioner_saga_duration_seconds_count",
            vec![("kind", "provision_tenant"), ("outcome", "completed")],
            1.0,
        ),
        (
            "tenantry_provisioner_saga_duration_seconds_count",
            vec![("kind", "provision_product"), ("outcome", "completed")],
            1.0,
        ),
        (
            "tenantry_provisioner_steps_total",
            vec![("step", "create_site"), ("outcome", "succeeded")],
            1.0,
        ),
        (
            "tenantry_provisioner_relay_latency_seconds_count",
            vec![],
            1.0,
        ),
        (
            "tenantry_keys_kms_calls_total",
            vec![("operation", "CreateKey"), ("outcome", "ok")],
            1.0,
        ),
        (
            "tenantry_keys_kms_call_duration_seconds_count",
            vec![("operation", "CreateKey")],
            1.0,
        ),
        (
            "tenantry_keys_data_key_cache_lookups_total",
            vec![("result", "miss")],
            1.0,
        ),
    ] {
        assert!(
            at_least(&provisioner, name, &labels, min),
            "{name}{labels:?} ≥ {min} in:\n{provisioner}"
        );
    }
    assert_eq!(
        sum(&provisioner, "tenantry_provisioner_parked_tenants", &[]),
        Some(0.0)
    );
    assert_eq!(
        sum(
            &provisioner,
            "tenantry_provisioner_records_dead_lettered_total",
            &[]
        ),
        Some(1.0),
        "only the malformed record"
    );
    assert!(provisioner.contains("# TYPE tenantry_provisioner_relay_latency_seconds histogram"));
    assert!(
        !provisioner.contains(&tenant),
        "no tenant id in a label:\n{provisioner}"
    );

    let projector = scrape_until(&projector_metrics, "projector metrics", |text| {
        at_least(text, "tenantry_projector_lag_seconds_count", &[], 1.0)
            && sum(
                text,
                "tenantry_projector_consumer_lag_records",
                &[("topic", &topics.provisioning)],
            ) == Some(0.0)
    })
    .await;
    for name in [
        "tenantry_projector_records_consumed_total",
        "tenantry_projector_context_changes_total",
    ] {
        assert!(
            at_least(&projector, name, &[], 1.0),
            "{name} in:\n{projector}"
        );
    }
    assert_eq!(
        sum(&projector, "tenantry_projector_records_skipped_total", &[]),
        None
    );

    for base in [&api, &sidecar] {
        let text = scrape(base).await;
        assert!(
            at_least(
                &text,
                "tenantry_api_cache_lookups_total",
                &[("result", "hit")],
                1.0
            ),
            "a cache hit on {base}:\n{text}"
        );
        // `stored`, or `not_newer` when a read from the store filled the
        // API's cache first.
        assert!(
            at_least(&text, "tenantry_api_changelog_records_total", &[], 1.0),
            "{text}"
        );
        assert!(
            at_least(
                &text,
                "tenantry_api_requests_total",
                &[("route", "/v1/tenants/{tenant_id}/context")],
                1.0
            ),
            "{text}"
        );
    }

    // The admin: a request without a token is answered (401) and counted by
    // route template, never by tenant id.
    let refused = reqwest::get(format!("http://{admin}/admin/v1/tenants/{tenant}/timeline"))
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let text = scrape_until(&admin_metrics, "admin metrics", |text| {
        at_least(
            text,
            "tenantry_admin_requests_total",
            &[
                ("route", "/admin/v1/tenants/{tenant_id}/timeline"),
                ("status", "401"),
            ],
            1.0,
        )
    })
    .await;
    assert!(
        at_least(
            &text,
            "tenantry_admin_request_duration_seconds_count",
            &[],
            1.0
        ),
        "{text}"
    );
    assert!(!text.contains(&tenant), "no tenant id in a label:\n{text}");

    // SIGTERM: each service, its metrics listener included, stops cleanly.
    for service in &mut services {
        let status = service.terminate(Duration::from_secs(30)).await;
        assert!(
            status.success(),
            "{}: {status}\n{}",
            service.log().display(),
            service.log_tail(20)
        );
    }
    assert!(
        reqwest::get(format!("http://{provisioner_metrics}/metrics"))
            .await
            .is_err(),
        "the metrics listener closed with the provisioner"
    );
}
