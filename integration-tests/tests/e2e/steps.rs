//! Each step's handler on its own path, on the real store: a step a time in
//! a transaction of its own, recorded under its idempotency key
//! ([`tenantry_provisioner::effects::Effects`]), and its compensation.

use crate::support::{APPS, DOMAIN, fresh_database, start_apps};
use std::sync::Arc;
use std::time::Duration;
use tenantry_provisioner::effects::Effects;
use tenantry_provisioner::steps::{StepContext, StoreShards};
use tenantry_provisioner::{EffectsConfig, Retention};
use tenantry_sagas::saga::{ProductSpec, SagaSpec, TenantSpec};
use tenantry_sagas::{SagaAction, SagaKind, SagaState, SagaStatus, Step, StepEffects};
use tenantry_schemas::{
    CountryCode, Edition, Envelope, MIN_OCCURRED_AT_MS, ProductKey, Region, SiteName, TenantId,
};
use tenantry_store::{ProductDatabases, Store};
use uuid::Uuid;

struct Fixture {
    store: Store,
    effects: Effects,
    _keys: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let apps = tenantry_apps::AppsConfig {
        apps: Vec::new(),
        egress_allow: Vec::new(),
        issuer: "tenantry".into(),
        timeout: Duration::from_secs(1),
    };
    fixture_with(apps).await
}

async fn fixture_with(apps: tenantry_apps::AppsConfig) -> Fixture {
    let store = Store::connect(&fresh_database().await, 4).await.unwrap();
    let keys_dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(tenantry_keys::LocalKeyService::new(keys_dir.path()).unwrap());
    let steps = StepContext {
        config: EffectsConfig {
            site_domain: DOMAIN.into(),
            shard_capacity: 100,
            host_quarantine_ms: 0,
            retention: Retention::Drop,
        },
        keys,
        apps: tenantry_apps::AppClient::new(apps).unwrap(),
        databases: Arc::new(ProductDatabases::PostgresSchemas(store.pool().clone())),
        shards: Arc::new(StoreShards {
            store: store.clone(),
            capacity: 100,
        }),
    };
    let effects = Effects {
        steps,
        store: store.clone(),
    };
    Fixture {
        store,
        effects,
        _keys: keys_dir,
    }
}

impl Fixture {
    async fn count(&self, sql: &str) -> i64 {
        let (n,): (i64,) = sqlx::query_as(sql)
            .fetch_one(self.store.pool())
            .await
            .unwrap();
        n
    }

    /// Runs `saga` a step at a time to its end; panics on a failed step.
    async fn run(&self, saga: &mut SagaState) {
        while let SagaAction::Run(step) = saga.next_action() {
            let output = self.effects.execute(saga, step).await.unwrap();
            saga.step_succeeded(step, output).unwrap();
        }
        assert_eq!(saga.status, SagaStatus::Completed);
    }

    /// Compensates every completed step of `saga`, last first.
    async fn compensate(&self, saga: &SagaState) {
        for step in saga.kind.steps().iter().rev() {
            if saga.results.contains_key(step) {
                self.effects.compensate(saga, *step).await.unwrap();
            }
        }
    }
}

fn saga(kind: SagaKind, tenant: &str, product: Option<&str>) -> SagaState {
    let envelope = Envelope {
        event_id: Uuid::new_v4(),
        tenant_id: TenantId::parse(tenant).unwrap(),
        sequence: 1,
        occurred_at_ms: MIN_OCCURRED_AT_MS,
        source: "test".into(),
        correlation_id: None,
        causation_id: None,
    };
    let spec = SagaSpec {
        tenant: TenantSpec {
            site: SiteName::parse(tenant).unwrap(),
            owner_email: "o@x.test".into(),
            country: CountryCode::parse("DE").unwrap(),
            residency_pin: None,
            kms_key: None,
        },
        product: product.map(|p| ProductSpec {
            product: ProductKey::parse(p).unwrap(),
            edition: Edition::Standard,
            seats: 5,
            apps: vec![],
        }),
        products: vec![],
    };
    SagaState::start(kind, &envelope, spec)
}

/// A step redelivered or resumed after a crash acts once: the second run
/// returns the recorded result (same idempotency key); compensating twice is a
/// no-op, and after compensation the step acts again.
#[tokio::test]
async fn a_step_runs_once_per_idempotency_key() {
    let f = fixture().await;
    let saga = saga(SagaKind::ProvisionTenant, "t1", None);
    let members = "SELECT COUNT(*) FROM identity_group_members";
    let first = f
        .effects
        .execute(&saga, Step::CreateIdentity)
        .await
        .unwrap();
    let second = f
        .effects
        .execute(&saga, Step::CreateIdentity)
        .await
        .unwrap();
    assert_eq!(first, second);
    assert_eq!(first.groups(), Some(vec!["site-admins".to_owned()]));
    assert_eq!(f.count(members).await, 1);
    let recorded = "SELECT COUNT(*) FROM step_effects";
    assert_eq!(f.count(recorded).await, 1);
    let mut done = saga.clone();
    done.results.insert(Step::CreateIdentity, first);
    f.effects
        .compensate(&done, Step::CreateIdentity)
        .await
        .unwrap();
    f.effects
        .compensate(&done, Step::CreateIdentity)
        .await
        .unwrap();
    assert_eq!(f.count(members).await, 0);
    assert_eq!(f.count(recorded).await, 0, "the record goes with the rows");
    f.effects
        .execute(&saga, Step::CreateIdentity)
        .await
        .unwrap();
    assert_eq!(
        f.count(members).await,
        1,
        "after compensation the step acts again"
    );
}

/// Data residency fails closed: a tenant pinned to `eu` whose placement says
/// otherwise gets no database anywhere, with the reason.
#[tokio::test]
async fn a_pinned_tenant_never_gets_a_database_outside_its_pin() {
    let f = fixture().await;
    let mut product_saga = saga(SagaKind::ProvisionProduct, "t3", Some("jira"));
    product_saga.spec.tenant.residency_pin = Some(Region::Eu);
    sqlx::query("INSERT INTO placements (tenant_id, region, pinned) VALUES ('t3', 'us', 0)")
        .execute(f.store.pool())
        .await
        .unwrap();
    let error = f
        .effects
        .execute(&product_saga, Step::ProvisionDatabase)
        .await
        .unwrap_err();
    assert!(!error.retryable);
    assert!(error.reason.contains("pinned to eu"), "{}", error.reason);
    assert_eq!(f.count("SELECT COUNT(*) FROM product_databases").await, 0);
    assert_eq!(f.count("SELECT COUNT(*) FROM step_effects").await, 0);
}

/// A tenant and a product provisioned a step at a time leave every row of
/// the seven steps, a schema with sealed credentials on a shard; the
/// product's saga compensated leaves none of its rows, the schema dropped
/// and the shard's room given back.
#[tokio::test]
async fn a_product_provisioned_a_step_at_a_time_and_compensated_leaves_nothing() {
    let f = fixture().await;
    let mut tenant = saga(SagaKind::ProvisionTenant, "t4", None);
    f.run(&mut tenant).await;
    let mut product = saga(SagaKind::ProvisionProduct, "t4", Some("jira"));
    f.run(&mut product).await;

    let placed = product.results[&Step::ProvisionDatabase]
        .database()
        .unwrap();
    assert_eq!(placed.shard, "de-shard-1", "Germany's nearest region is de");
    let schema = format!(
        "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = '{}'",
        placed.database
    );
    assert_eq!(f.count(&schema).await, 1);
    let sealed = "SELECT COUNT(*) FROM product_databases WHERE credentials IS NOT NULL";
    assert_eq!(f.count(sealed).await, 1);
    let used = "SELECT COALESCE(SUM(used), 0)::bigint FROM shards";
    assert_eq!(f.count(used).await, 1);
    let product_rows = [
        "SELECT COUNT(*) FROM licences",
        "SELECT COUNT(*) FROM site_products",
        "SELECT COUNT(*) FROM site_metadata WHERE scope = 'product:jira'",
        "SELECT COUNT(*) FROM identity_groups WHERE group_name = 'jira-users'",
        "SELECT COUNT(*) FROM product_databases",
    ];
    for sql in product_rows {
        assert_eq!(f.count(sql).await, 1, "{sql}");
    }
    assert_eq!(
        product.results[&Step::CreateIdentity].groups(),
        Some(vec!["jira-users".to_owned(), "site-admins".to_owned()])
    );

    f.compensate(&product).await;
    for sql in product_rows {
        assert_eq!(f.count(sql).await, 0, "{sql}");
    }
    assert_eq!(f.count(&schema).await, 0, "the schema is dropped");
    assert_eq!(f.count(used).await, 0, "the shard has its room back");
    let tenant_rows = [
        "SELECT COUNT(*) FROM tenant_accounts",
        "SELECT COUNT(*) FROM sites",
        "SELECT COUNT(*) FROM placements",
        "SELECT COUNT(*) FROM identity_groups WHERE group_name = 'site-admins'",
    ];
    for sql in tenant_rows {
        assert_eq!(f.count(sql).await, 1, "the tenant's rows stay: {sql}");
    }
}

/// Step 7 is all or nothing: when an app refuses its install, the installs
/// that went through are undone; an undo that fails too is reported with
/// the refusal, naming the app that may still count the product installed,
/// and no row says it is installed.
#[tokio::test]
async fn a_failed_install_whose_undo_fails_names_both_and_the_app_left_installed() {
    use tenantry_apps::LifecycleEvent;
    let (recorder, apps) = start_apps().await;
    let f = fixture_with(apps).await;
    let mut product = saga(SagaKind::ProvisionProduct, "t5", Some("jira"));
    let spec = product.spec.product.as_mut().unwrap();
    spec.apps = APPS
        .iter()
        .map(|app| tenantry_schemas::AppKey::parse(app).unwrap())
        .collect();
    let (first, second) = (APPS[0], APPS[1]);
    recorder.fail_with(second, 400);
    recorder.fail_event_with(first, LifecycleEvent::Uninstalled, 400);

    let error = f
        .effects
        .execute(&product, Step::InstallApps)
        .await
        .unwrap_err();
    assert!(error.reason.contains(second), "{}", error.reason);
    assert!(
        error
            .reason
            .contains(&format!("{first} may still be installed")),
        "{}",
        error.reason
    );
    assert_eq!(f.count("SELECT COUNT(*) FROM installed_apps").await, 0);
    assert_eq!(f.count("SELECT COUNT(*) FROM step_effects").await, 0);
    let installed: Vec<_> = recorder
        .calls()
        .into_iter()
        .map(|call| (call.app.to_string(), call.event.as_str()))
        .collect();
    assert_eq!(installed, vec![(first.to_owned(), "installed")]);
}
