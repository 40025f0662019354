//! The ingest's batched path: the records a worker holds are decided as one
//! unit of work and committed in one transaction; the first record the batch
//! cannot handle — a step that fails, an app callback, a parked tenant, a
//! reused event id — ends it, is handled one
//! transaction at a time, and the records after it start the next batch,
//! with the outcome record-by-record handling reaches. Driven through
//! `Ingest::handle_batch` directly, so the batch's composition is known.

use crate::support::{DOMAIN, bootstrap, fresh_database, fresh_topics, start_apps};
use std::collections::BTreeMap;
use std::sync::Arc;
use tenantry_kafka::{KafkaConfig, Producer, Record};
use tenantry_provisioner::dead_letter::KafkaDeadLetters;
use tenantry_provisioner::effects::Effects;
use tenantry_provisioner::ingest::Ingest;
use tenantry_provisioner::runner::SagaRunner;
use tenantry_provisioner::steps::{StepContext, StoreShards};
use tenantry_provisioner::{EffectsConfig, Retention};
use tenantry_schemas::{
    AppKey, Codec, CommerceEvent, CommerceRecord, CountryCode, Edition, Envelope, ProductActivated,
    ProductKey, SiteName, TenantCreated, TenantId, Topics,
};
use tenantry_store::{ProductDatabases, Store};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

fn commerce(tenant: &str, sequence: i64, event: CommerceEvent) -> CommerceRecord {
    CommerceRecord {
        envelope: Envelope {
            event_id: Uuid::new_v4(),
            tenant_id: TenantId::parse(tenant).unwrap(),
            sequence,
            occurred_at_ms: tenantry_store::now_ms(),
            source: "batch-test".into(),
            correlation_id: None,
            causation_id: None,
        },
        event,
    }
}

fn created(tenant: &str, site: &str) -> CommerceRecord {
    commerce(
        tenant,
        1,
        CommerceEvent::TenantCreated(TenantCreated {
            site: SiteName::parse(site).unwrap(),
            owner_email: format!("owner@{tenant}.test"),
            country: CountryCode::parse("DE").unwrap(),
            residency_pin: None,
            kms_key: None,
        }),
    )
}

fn activated(tenant: &str, apps: &[&str]) -> CommerceRecord {
    commerce(
        tenant,
        2,
        CommerceEvent::ProductActivated(ProductActivated {
            product: ProductKey::parse("jira").unwrap(),
            edition: Edition::parse("standard").unwrap(),
            seats: 10,
            apps: apps.iter().map(|a| AppKey::parse(a).unwrap()).collect(),
        }),
    )
}

/// A record as the consumer would hand it over, at `offset` of partition 0.
async fn record(codec: &Codec, topics: &Topics, offset: i64, commerce: &CommerceRecord) -> Record {
    Record {
        topic: topics.commerce.clone(),
        partition: 0,
        offset,
        key: Some(commerce.envelope.tenant_id.as_str().as_bytes().to_vec()),
        payload: Some(
            codec
                .encode_commerce(&topics.commerce, commerce)
                .await
                .unwrap(),
        ),
        headers: Vec::new(),
        timestamp_ms: None,
    }
}

/// Every row `sql` returns.
async fn rows<T>(store: &Store, sql: &str) -> Vec<T>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
{
    sqlx::query_as(sql)
        .fetch_all(store.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Rows of `table` for `tenants`, by transaction that last wrote them.
async fn writers(store: &Store, table: &str, tenants: &[&str]) -> usize {
    let tenants: Vec<String> = tenants.iter().map(|t| format!("'{t}'")).collect();
    let sql = format!(
        "SELECT COUNT(DISTINCT xmin::text) FROM {table} WHERE tenant_id IN ({})",
        tenants.join(", ")
    );
    let (n,): (i64,) = rows(store, &sql).await.remove(0);
    n as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_transaction_for_the_batch_and_one_at_a_time_for_what_cannot_finish_in_it() {
    let (_suffix, topics) = fresh_topics().await;
    let store = Store::connect(&fresh_database().await, 4).await.unwrap();
    let codec = Arc::new(Codec::embedded());
    let keys_dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(tenantry_keys::LocalKeyService::new(keys_dir.path()).unwrap());
    let (apps, apps_config) = start_apps().await;
    let config = EffectsConfig {
        site_domain: DOMAIN.into(),
        shard_capacity: 3,
        host_quarantine_ms: 0,
        retention: Retention::Drop,
    };
    let steps = StepContext {
        config,
        keys: keys.clone(),
        apps: tenantry_apps::AppClient::new(apps_config).unwrap(),
        databases: Arc::new(ProductDatabases::PostgresSchemas(store.pool().clone())),
        shards: Arc::new(StoreShards {
            store: store.clone(),
            capacity: 3,
        }),
    };
    let effects = Effects {
        steps: steps.clone(),
        store: store.clone(),
    };
    let ingest = Ingest {
        store: store.clone(),
        codec: codec.clone(),
        dead_letters: KafkaDeadLetters {
            producer: Producer::new(&KafkaConfig::new(bootstrap(), "it-batch")).unwrap(),
            topic: topics.commerce_dlq.clone(),
        },
        runner: SagaRunner::new(store.clone(), effects, 3, Arc::default()),
        steps,
    };

    // a1..a5 can finish in the transaction. b asks for a1's site: its tenant
    // saga fails (and its product event must then wait behind it). c
    // installs an app: step 7 calls out. d asks for c's site after c: c
    // must get it although c's product saga leaves the transaction. a2's
    // creation is delivered twice, and its event id is reused once by a
    // different event (dead-lettered, not dropped as a duplicate).
    let mut batch = Vec::new();
    for i in 1..=5 {
        let tenant = format!("a{i}");
        batch.push(created(&tenant, &format!("site-a{i}")));
        batch.push(activated(&tenant, &[]));
    }
    batch.push(created("b1", "site-a1"));
    batch.push(activated("b1", &[]));
    batch.push(created("c1", "site-c1"));
    batch.push(activated("c1", &["jira-slack"]));
    batch.push(created("d1", "site-c1"));
    batch.push(batch[2].clone());
    let mut reused = activated("a4", &[]);
    reused.envelope.sequence = 3;
    reused.envelope.event_id = batch[2].envelope.event_id;
    batch.push(reused);
    let mut records = Vec::new();
    for (offset, commerce) in batch.iter().enumerate() {
        records.push(record(&codec, &topics, offset as i64, commerce).await);
    }

    let mut finished = BTreeMap::new();
    ingest
        .handle_batch(&records, &CancellationToken::new(), |r| {
            *finished.entry(r.offset).or_insert(0) += 1;
        })
        .await
        .expect("not shut down");

    assert_eq!(
        finished,
        (0..records.len() as i64).map(|o| (o, 1)).collect(),
        "every record reported finished once"
    );
    let sagas: Vec<(String, String, String)> = rows(
        &store,
        "SELECT tenant_id, kind, status FROM sagas ORDER BY tenant_id, kind",
    )
    .await;
    let mut expected = Vec::new();
    for tenant in ["a1", "a2", "a3", "a4", "a5"] {
        expected.push((
            tenant.to_owned(),
            "provision_product".to_owned(),
            "completed".to_owned(),
        ));
        expected.push((
            tenant.to_owned(),
            "provision_tenant".to_owned(),
            "completed".to_owned(),
        ));
    }
    expected.push(("b1".into(), "provision_tenant".into(), "failed".into()));
    expected.push(("c1".into(), "provision_product".into(), "completed".into()));
    expected.push(("c1".into(), "provision_tenant".into(), "completed".into()));
    expected.push(("d1".into(), "provision_tenant".into(), "failed".into()));
    assert_eq!(
        sagas, expected,
        "one saga per trigger; the duplicate planned nothing"
    );

    // The a-tenants were committed together (sagas, events, databases,
    // tenant records) although their region had no shard and the first
    // filled up (shards are added outside the batch); c1's activation by
    // several transactions (one per step and transition).
    let a = ["a1", "a2", "a3", "a4", "a5"];
    for table in [
        "sagas",
        "tenant_events",
        "product_databases",
        "tenant_states",
    ] {
        assert_eq!(writers(&store, table, &a).await, 1, "{table}");
    }
    assert!(writers(&store, "sagas", &["c1"]).await > 1);

    // The reused event id is dead-lettered with the reason.
    let dead = tenantry_kafka::read_to_end(
        &KafkaConfig::new(bootstrap(), "it-batch-dlq"),
        &topics.commerce_dlq,
        std::time::Duration::from_secs(30),
    )
    .await
    .unwrap();
    let reasons: Vec<String> = dead
        .iter()
        .map(|r| String::from_utf8_lossy(r.header("dlq.reason").unwrap_or_default()).into_owned())
        .collect();
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(
        reasons[0].starts_with("event_id: ") && reasons[0].contains("tenant a2"),
        "{}",
        reasons[0]
    );

    // b1 and d1 are parked on their failed sagas, b1's product event waits;
    // the site went to the tenant that asked first.
    let parked: Vec<(String, String)> = rows(
        &store,
        "SELECT tenant_id, kind FROM parked_tenants ORDER BY tenant_id",
    )
    .await;
    assert_eq!(
        parked,
        vec![
            ("b1".to_owned(), "saga_failed".to_owned()),
            ("d1".to_owned(), "saga_failed".to_owned())
        ]
    );
    let owners: Vec<(String, String)> =
        rows(&store, "SELECT site, tenant_id FROM sites ORDER BY site").await;
    let expected: Vec<(String, String)> = ["a1", "a2", "a3", "a4", "a5", "c1"]
        .iter()
        .map(|t| (format!("site-{t}"), (*t).to_owned()))
        .collect();
    assert_eq!(
        owners, expected,
        "each site to the first tenant asking for it"
    );
    let (state,): (String,) = rows(
        &store,
        "SELECT state FROM tenant_events WHERE tenant_id = 'b1' AND sequence = 2",
    )
    .await
    .remove(0);
    assert_eq!(state, "waiting");

    // c1's app saw its install once; six product databases over two shards
    // of capacity 3 (usage counted in the batch is written with it).
    let installs = apps
        .calls()
        .iter()
        .filter(|c| c.app.as_str() == "jira-slack" && c.event.as_str() == "installed")
        .count();
    assert_eq!(installs, 1, "one install callback");
    let shards: Vec<(String, i64)> = rows(
        &store,
        "SELECT shard_id, used FROM shards ORDER BY shard_id",
    )
    .await;
    assert_eq!(
        shards,
        vec![("de-shard-1".to_owned(), 3), ("de-shard-2".to_owned(), 3)]
    );
}
