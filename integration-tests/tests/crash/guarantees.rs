//! The delivery guarantees, checked once a run is finished: every effect
//! exactly once in the store, every tenant-state record on the topic (with
//! its `event_id` and `event_kind` headers), exactly once after a consumer's
//! dedup by event id, the newest of each tenant its provisioned end.
//!
//! Every check runs and every violation is collected, so one failed run
//! reports all that went wrong, with the rows that show it.

use crate::workload::Workload;
use sqlx::PgPool;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;
use tenantry_kafka::{KafkaConfig, read_to_end};
use tenantry_schemas::{
    Codec, ProductKey, ProductState, ProvisioningEvent, ProvisioningRecord, RecordHeaders,
    TenantState, TenantStatus, Topics,
};
use uuid::Uuid;

/// What a consumer of `provisioning.events.v1` saw.
#[derive(Debug, Clone, Default)]
pub struct TopicReport {
    /// Records on the topic.
    pub records: usize,
    /// Distinct event ids among them.
    pub distinct: usize,
    /// Records dropped by the dedup (`records - distinct`): at-least-once
    /// delivery at work, allowed.
    pub duplicates: usize,
}

/// Runs every check; panics listing every violation, else returns what the
/// topic held.
pub async fn assert_delivered_exactly_once(
    pool: &PgPool,
    bootstrap: &str,
    topics: &Topics,
    workload: &Workload,
) -> TopicReport {
    let mut violations = Vec::new();
    sagas(pool, workload, &mut violations).await;
    commerce_events(pool, workload, &mut violations).await;
    product_databases(pool, workload, &mut violations).await;
    identity(pool, workload, &mut violations).await;
    resources(pool, workload, &mut violations).await;
    let enqueued = outbox(pool, &mut violations).await;
    let report = topic(bootstrap, topics, workload, &enqueued, &mut violations).await;
    println!(
        "  provisioning topic: {} records, {} distinct events, {} duplicates dropped by the \
         consumer's dedup",
        report.records, report.distinct, report.duplicates
    );
    assert!(
        violations.is_empty(),
        "{} delivery guarantee violation(s):\n- {}",
        violations.len(),
        violations.join("\n- ")
    );
    report
}

async fn rows<T>(pool: &PgPool, sql: &str) -> Vec<T>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    sqlx::query_as(sql)
        .fetch_all(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql)
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    n
}

/// Sagas: one per commerce event, all completed, one `provision_tenant` and
/// one `provision_product` per product for each tenant.
async fn sagas(pool: &PgPool, workload: &Workload, violations: &mut Vec<String>) {
    let sagas: Vec<(String, String, String, String)> =
        rows(pool, "SELECT saga_id, tenant_id, kind, status FROM sagas").await;
    if sagas.len() != workload.sagas() {
        violations.push(format!(
            "sagas: {} rows, expected {} (tenants {} + activations {})",
            sagas.len(),
            workload.sagas(),
            workload.tenants.len(),
            workload.activations()
        ));
    }
    let not_completed: Vec<_> = sagas.iter().filter(|s| s.3 != "completed").collect();
    if !not_completed.is_empty() {
        violations.push(format!(
            "sagas: {} not completed, e.g. {:?}",
            not_completed.len(),
            &not_completed[..not_completed.len().min(10)]
        ));
    }
    let mut kinds: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    for (_, tenant, kind, _) in &sagas {
        *kinds.entry(tenant).or_default().entry(kind).or_default() += 1;
    }
    for tenant in &workload.tenants {
        let expected: BTreeMap<&str, usize> = [
            ("provision_tenant", 1),
            ("provision_product", tenant.products.len()),
        ]
        .into();
        let got = kinds.remove(tenant.id.as_str()).unwrap_or_default();
        if got != expected {
            violations.push(format!(
                "sagas of {}: {got:?}, expected {expected:?}",
                tenant.id
            ));
        }
    }
    if !kinds.is_empty() {
        violations.push(format!("sagas of unknown tenants: {kinds:?}"));
    }
}

/// Every published commerce event recorded exactly once (dedup table), no other.
async fn commerce_events(pool: &PgPool, workload: &Workload, violations: &mut Vec<String>) {
    let recorded: Vec<(String,)> = rows(pool, "SELECT event_id FROM processed_events").await;
    let recorded: HashSet<String> = recorded.into_iter().map(|(id,)| id).collect();
    let expected = workload.event_ids();
    let missing: Vec<_> = expected.difference(&recorded).take(10).collect();
    let extra: Vec<_> = recorded.difference(&expected).take(10).collect();
    if !missing.is_empty() || !extra.is_empty() {
        violations.push(format!(
            "processed_events: {} recorded, {} published; missing e.g. {missing:?}, extra e.g. {extra:?}",
            recorded.len(),
            expected.len()
        ));
    }
}

/// One product database per tenant and product: the `product_databases` rows
/// and the PostgreSQL schemas are exactly the expected names.
async fn product_databases(pool: &PgPool, workload: &Workload, violations: &mut Vec<String>) {
    let expected = workload.databases();
    let recorded: Vec<(String, String, String)> = rows(
        pool,
        "SELECT tenant_id, product, database_name FROM product_databases",
    )
    .await;
    let recorded_set: BTreeSet<_> = recorded.iter().cloned().collect();
    if recorded.len() != expected.len() || recorded_set != expected {
        violations.push(format!(
            "product_databases: {} rows, expected {}; missing {:?}; extra {:?}",
            recorded.len(),
            expected.len(),
            expected
                .difference(&recorded_set)
                .take(10)
                .collect::<Vec<_>>(),
            recorded_set
                .difference(&expected)
                .take(10)
                .collect::<Vec<_>>()
        ));
    }
    let names: BTreeSet<String> = expected.into_iter().map(|(_, _, name)| name).collect();
    let schemas: Vec<(String,)> = rows(
        pool,
        "SELECT schema_name::text FROM information_schema.schemata \
         WHERE schema_name NOT LIKE 'pg\\_%' AND schema_name NOT IN ('public', 'information_schema')",
    )
    .await;
    let schemas: BTreeSet<String> = schemas.into_iter().map(|(s,)| s).collect();
    if schemas != names {
        violations.push(format!(
            "PostgreSQL schemas: {} product schemas, expected {}; missing {:?}; extra {:?}",
            schemas.len(),
            names.len(),
            names.difference(&schemas).take(10).collect::<Vec<_>>(),
            schemas.difference(&names).take(10).collect::<Vec<_>>()
        ));
    }
}

/// Identity (step 5): one owner user per tenant; `site-admins` and one
/// `<product>-users` group per product, each with the owner as its only
/// member; `site-admins` has 2 permissions, a product group 1.
async fn identity(pool: &PgPool, workload: &Workload, violations: &mut Vec<String>) {
    let tenants = workload.tenants.len() as i64;
    let activations = workload.activations() as i64;
    let users = count(pool, "SELECT COUNT(*) FROM identity_users").await;
    let users_by_tenant: Vec<(String, i64)> = rows(
        pool,
        "SELECT tenant_id, COUNT(*) FROM identity_users GROUP BY tenant_id HAVING COUNT(*) <> 1",
    )
    .await;
    if users != tenants || !users_by_tenant.is_empty() {
        violations.push(format!(
            "identity_users: {users} rows, expected {tenants} (one owner per tenant); \
             tenants without exactly one: {users_by_tenant:?}"
        ));
    }
    let expected = workload.groups();
    let groups: Vec<(String, String)> =
        rows(pool, "SELECT tenant_id, group_name FROM identity_groups").await;
    let group_set: BTreeSet<_> = groups.iter().cloned().collect();
    if groups.len() != expected.len() || group_set != expected {
        violations.push(format!(
            "identity_groups: {} rows, expected {}; missing {:?}; extra {:?}",
            groups.len(),
            expected.len(),
            expected.difference(&group_set).take(10).collect::<Vec<_>>(),
            group_set.difference(&expected).take(10).collect::<Vec<_>>()
        ));
    }
    let members = count(pool, "SELECT COUNT(*) FROM identity_group_members").await;
    let odd_groups: Vec<(String, String, i64)> = rows(
        pool,
        "SELECT tenant_id, group_name, COUNT(*) FROM identity_group_members \
         GROUP BY tenant_id, group_name HAVING COUNT(*) <> 1 LIMIT 10",
    )
    .await;
    if members != expected.len() as i64 || !odd_groups.is_empty() {
        violations.push(format!(
            "identity_group_members: {members} rows, expected {} (the owner in each group); \
             groups without exactly one member: {odd_groups:?}",
            expected.len()
        ));
    }
    let permissions = count(pool, "SELECT COUNT(*) FROM identity_group_permissions").await;
    if permissions != 2 * tenants + activations {
        violations.push(format!(
            "identity_group_permissions: {permissions} rows, expected {}",
            2 * tenants + activations
        ));
    }
}

/// Other counted effects: one site per tenant; shard usage counts each
/// product database once; nothing parked.
async fn resources(pool: &PgPool, workload: &Workload, violations: &mut Vec<String>) {
    let sites = count(pool, "SELECT COUNT(*) FROM sites").await;
    if sites != workload.tenants.len() as i64 {
        violations.push(format!(
            "sites: {sites} rows, expected {}",
            workload.tenants.len()
        ));
    }
    let used = count(pool, "SELECT COALESCE(SUM(used), 0)::BIGINT FROM shards").await;
    if used != workload.activations() as i64 {
        violations.push(format!(
            "shards: SUM(used) = {used}, expected {} (one per product database; \
             more means a placement was counted twice)",
            workload.activations()
        ));
    }
    let parked: Vec<(String, String, String)> = rows(
        pool,
        "SELECT tenant_id, kind, reason FROM parked_tenants LIMIT 10",
    )
    .await;
    if !parked.is_empty() {
        violations.push(format!("parked tenants: {parked:?}"));
    }
}

/// Nothing left in the outbox (the relay deletes what it published). Returns
/// how many events were enqueued per tenant: `tenant_sequences`, written in
/// the transaction of every outbox row.
async fn outbox(pool: &PgPool, violations: &mut Vec<String>) -> BTreeMap<String, i64> {
    let pending = count(pool, "SELECT COUNT(*) FROM outbox").await;
    if pending != 0 {
        violations.push(format!("outbox: {pending} rows not published"));
    }
    rows(
        pool,
        "SELECT tenant_id, provisioning_seq FROM tenant_sequences",
    )
    .await
    .into_iter()
    .collect()
}

/// The consumer's view of `provisioning.events.v1`, deduplicated by event
/// id: a copy of an event is identical to it (key and content); the distinct
/// records of each tenant are exactly the ones enqueued (sequences 1..=n, n
/// from `tenant_sequences`, without gap or repeat); each is a tenant state
/// and the newest one is the state the workload ends in.
async fn topic(
    bootstrap: &str,
    topics: &Topics,
    workload: &Workload,
    enqueued: &BTreeMap<String, i64>,
    violations: &mut Vec<String>,
) -> TopicReport {
    let records = read_to_end(
        &KafkaConfig::new(bootstrap, "it-crash-reader"),
        &topics.provisioning,
        Duration::from_secs(120),
    )
    .await
    .unwrap_or_else(|e| panic!("read {}: {e}", topics.provisioning));
    let codec = Codec::embedded();
    let mut events: HashMap<Uuid, (String, ProvisioningRecord)> = HashMap::new();
    for record in &records {
        let at = format!("{}/{}@{}", record.topic, record.partition, record.offset);
        let Some(payload) = record.payload.as_deref() else {
            violations.push(format!("{at}: empty record"));
            continue;
        };
        let decoded = match codec.decode_provisioning(payload).await {
            Ok(decoded) => decoded,
            Err(e) => {
                violations.push(format!("{at}: does not decode: {e}"));
                continue;
            }
        };
        let key = record.key_str().unwrap_or_default().to_owned();
        if key != decoded.envelope.tenant_id.as_str() {
            violations.push(format!("{at}: key {key:?} is not the tenant id"));
        }
        let expected = RecordHeaders::provisioning(&decoded);
        let headers: Vec<(&str, &[u8])> = record
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_slice()))
            .collect();
        if headers != expected.pairs() {
            violations.push(format!(
                "{at}: headers {:?} are not the record's event id and kind",
                record.headers
            ));
        }
        let id = decoded.envelope.event_id;
        match events.get(&id) {
            Some(first) if *first != (key.clone(), decoded.clone()) => violations.push(format!(
                "{at}: event {id} delivered again with other content: first {first:?}, now {:?}",
                (key, decoded)
            )),
            Some(_) => {}
            None => {
                events.insert(id, (key, decoded));
            }
        }
    }
    let report = TopicReport {
        records: records.len(),
        distinct: events.len(),
        duplicates: records.len() - events.len(),
    };

    // Per tenant, its distinct tenant-state records by provisioning sequence.
    let mut states: BTreeMap<String, BTreeMap<i64, &TenantState>> = BTreeMap::new();
    let mut sequences: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (_, record) in events.values() {
        let tenant = record.envelope.tenant_id.as_str().to_owned();
        sequences
            .entry(tenant.clone())
            .or_default()
            .push(record.envelope.sequence);
        match &record.event {
            ProvisioningEvent::TenantState(state) => {
                states
                    .entry(tenant)
                    .or_default()
                    .insert(record.envelope.sequence, state);
            }
            other => violations.push(format!(
                "{tenant}: a {} record on the topic; only tenant states are written",
                other.kind()
            )),
        }
    }
    // The newest state of each tenant is the end the workload asks for: the
    // last commerce event released, every product active on a shard, nothing
    // failed, parked or pending; and the commerce sequence a tenant's states
    // reflect never goes back.
    for tenant in &workload.tenants {
        let Some(of_tenant) = states.get(&tenant.id) else {
            violations.push(format!("{}: no tenant state on the topic", tenant.id));
            continue;
        };
        let reflected: Vec<i64> = of_tenant.values().map(|s| s.commerce_sequence).collect();
        if reflected.windows(2).any(|w| w[1] < w[0]) {
            violations.push(format!(
                "{}: commerce sequences of its states go back: {reflected:?}",
                tenant.id
            ));
        }
        let newest = of_tenant.values().next_back().expect("at least one");
        let products_ok = tenant.products.iter().all(|p| {
            ProductKey::parse(p)
                .ok()
                .and_then(|k| newest.products.get(&k))
                .is_some_and(|c| {
                    c.state == ProductState::Active && c.shard.is_some() && c.database.is_some()
                })
        }) && newest.products.len() == tenant.products.len();
        let last = tenant.products.len() as i64 + 1;
        if newest.status != TenantStatus::Active
            || newest.commerce_sequence != last
            || !products_ok
            || newest.last_failure.is_some()
            || newest.parked.is_some()
            || newest.pending_saga.is_some()
        {
            violations.push(format!(
                "{}: newest state is not the provisioned end (commerce sequence {last}, products \
                 {:?} active): {newest:?}",
                tenant.id, tenant.products
            ));
        }
    }
    let published: BTreeSet<&String> = sequences.keys().collect();
    if published != enqueued.keys().collect() {
        violations.push(format!(
            "tenants with events: {} on the topic, {} enqueued",
            published.len(),
            enqueued.len()
        ));
    }
    // Every enqueued event published, nothing else: a tenant's distinct
    // events carry exactly the sequences its outbox rows were given.
    for (tenant, mut seqs) in sequences {
        seqs.sort_unstable();
        let expected = enqueued.get(&tenant).copied().unwrap_or(0);
        let exact = seqs.len() as i64 == expected
            && seqs.iter().enumerate().all(|(i, s)| *s == i as i64 + 1);
        if !exact {
            violations.push(format!(
                "provisioning sequences of {tenant} are not 1..={expected} (enqueued) without \
                 gap or repeat: {seqs:?}"
            ));
        }
    }
    report
}
