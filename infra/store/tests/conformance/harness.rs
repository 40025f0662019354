//! The three stores under test, what the suite reads of them beyond the
//! traits ([`Subject`]), and the records the tests write.
//!
//! PostgreSQL: a fresh database per test on `TENANTRY_DATABASE_URL`'s
//! server, dropped (`WITH (FORCE)`) when the test ends, passed or failed.
//! SQLite: a file in a temporary directory. Memory: a new [`MemoryStore`].
//! SQLite runs one connection, so a test holds at most one unit of work at
//! a time.

pub(crate) use crate::stores::{Postgres, Sqlite};
use std::future::Future;
use tenantry_sagas::admission::OperatorAction;
use tenantry_sagas::saga::{SagaSpec, TenantSpec};
use tenantry_sagas::work::{EventSource, EventState, NewEvent, Shard};
use tenantry_sagas::{OutboxStore, ProvisionerStore, SagaKind, SagaState};
use tenantry_schemas::{
    CommerceEvent, CommerceRecord, CountryCode, Envelope, MIN_OCCURRED_AT_MS, ProvisioningEvent,
    ProvisioningRecord, SiteName, TenantCreated, TenantId, TenantState,
};
use tenantry_store::memory::MemoryStore;
use tenantry_store::parking::Requested;
use tenantry_store::{Store, inbox, parking};
use uuid::Uuid;

/// What the suite reads of a store beyond [`ProvisionerStore`]: what the
/// relay, the CLI and the operators read.
pub(crate) trait Subject: ProvisionerStore + OutboxStore {
    /// The outbox's records not yet published, oldest first.
    fn outbox(&self) -> impl Future<Output = Vec<ProvisioningRecord>>;
    /// A tenant's event stream by sequence: `(sequence, kind, state)`.
    fn stream(&self, tenant: &TenantId) -> impl Future<Output = Vec<(i64, String, EventState)>>;
    /// A tenant's rejections by sequence: `(sequence, reason)`.
    fn rejections(&self, tenant: &TenantId) -> impl Future<Output = Vec<(i64, String)>>;
    /// Requests an operator action (what `tenantry sagas retry|skip` writes).
    fn request(&self, tenant: &TenantId, action: OperatorAction)
    -> impl Future<Output = Requested>;
    /// Adds a shard, committed on its own.
    fn add_shard(&self, region: &str, number: usize, capacity: i64) -> impl Future<Output = Shard>;
}

impl Subject for Store {
    async fn outbox(&self) -> Vec<ProvisioningRecord> {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT record FROM outbox ORDER BY id")
            .fetch_all(self.pool())
            .await
            .unwrap();
        rows.into_iter()
            .map(|(record,)| serde_json::from_str(&record).unwrap())
            .collect()
    }

    async fn stream(&self, tenant: &TenantId) -> Vec<(i64, String, EventState)> {
        inbox::stream(self.pool(), tenant)
            .await
            .unwrap()
            .into_iter()
            .map(|(sequence, kind, state)| (sequence, kind, EventState::parse(&state).unwrap()))
            .collect()
    }

    async fn rejections(&self, tenant: &TenantId) -> Vec<(i64, String)> {
        inbox::rejections(self.pool(), tenant)
            .await
            .unwrap()
            .into_iter()
            .map(|(sequence, _, reason)| (sequence, reason))
            .collect()
    }

    async fn request(&self, tenant: &TenantId, action: OperatorAction) -> Requested {
        parking::request(self.pool(), tenant, action).await.unwrap()
    }

    async fn add_shard(&self, region: &str, number: usize, capacity: i64) -> Shard {
        Store::add_shard(self, region, number, capacity)
            .await
            .unwrap()
    }
}

impl Subject for MemoryStore {
    async fn outbox(&self) -> Vec<ProvisioningRecord> {
        MemoryStore::outbox(self)
    }

    async fn stream(&self, tenant: &TenantId) -> Vec<(i64, String, EventState)> {
        MemoryStore::stream(self, tenant)
    }

    async fn rejections(&self, tenant: &TenantId) -> Vec<(i64, String)> {
        MemoryStore::rejections(self, tenant)
    }

    async fn request(&self, tenant: &TenantId, action: OperatorAction) -> Requested {
        MemoryStore::request(self, tenant, action)
    }

    async fn add_shard(&self, region: &str, number: usize, capacity: i64) -> Shard {
        MemoryStore::add_shard(self, region, number, capacity)
    }
}

/// Runs each named test (`module::test`, a function generic over the store
/// taking `&S`) against PostgreSQL, SQLite and memory, as
/// `postgres::<test>`, `sqlite::<test>` and `memory::<test>`.
macro_rules! conformance {
    ($($module:ident :: $test:ident),* $(,)?) => {
        mod postgres {
            $(#[tokio::test]
            async fn $test() {
                let backend = crate::harness::Postgres::new("conf").await;
                crate::$module::$test(&backend.store).await;
            })*
        }
        mod sqlite {
            $(#[tokio::test]
            async fn $test() {
                let backend = crate::harness::Sqlite::new().await;
                crate::$module::$test(&backend.store).await;
            })*
        }
        mod memory {
            $(#[tokio::test]
            async fn $test() {
                let store = tenantry_store::memory::MemoryStore::new();
                crate::$module::$test(&store).await;
            })*
        }
    };
}
pub(crate) use conformance;

pub(crate) fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

/// `tenant_created` of `tenant` (site named after it) at `sequence`.
pub(crate) fn created(tenant_id: &str, sequence: i64) -> CommerceRecord {
    CommerceRecord {
        envelope: Envelope {
            event_id: Uuid::new_v4(),
            tenant_id: tenant(tenant_id),
            sequence,
            occurred_at_ms: MIN_OCCURRED_AT_MS,
            source: "conformance".into(),
            correlation_id: None,
            causation_id: None,
        },
        event: CommerceEvent::TenantCreated(TenantCreated {
            site: SiteName::parse(tenant_id).unwrap(),
            owner_email: format!("owner@{tenant_id}.test"),
            country: CountryCode::parse("DE").unwrap(),
            residency_pin: None,
            kms_key: None,
        }),
    }
}

/// `record` as recorded in its tenant's stream with `state`.
pub(crate) fn event(record: &CommerceRecord, state: EventState) -> NewEvent {
    NewEvent {
        record: record.clone(),
        source: EventSource {
            topic: "commerce.lifecycle.v1".into(),
            partition: 0,
            offset: record.envelope.sequence,
        },
        state,
    }
}

/// A tenant saga of `tenant`, just started.
pub(crate) fn saga(tenant_id: &str) -> SagaState {
    let trigger = created(tenant_id, 1);
    let spec = SagaSpec {
        tenant: TenantSpec {
            site: SiteName::parse(tenant_id).unwrap(),
            owner_email: "o@x.test".into(),
            country: CountryCode::parse("DE").unwrap(),
            residency_pin: None,
            kms_key: None,
        },
        product: None,
        products: vec![],
    };
    SagaState::start(SagaKind::ProvisionTenant, &trigger.envelope, spec)
}

/// The tenant-state records of the outbox: `(tenant, provisioning sequence, state)`.
pub(crate) async fn published<S: Subject>(store: &S) -> Vec<(TenantId, i64, TenantState)> {
    store
        .outbox()
        .await
        .into_iter()
        .map(|record| match record.event {
            ProvisioningEvent::TenantState(state) => {
                (record.envelope.tenant_id, record.envelope.sequence, *state)
            }
            other => panic!("not a tenant state: {other:?}"),
        })
        .collect()
}
