//! Bring your own key, on the provisioner's real path short of Kafka: the
//! saga runner driving every step's handler on a fresh PostgreSQL store,
//! with the AWS KMS key service on moto (`AWS_ENDPOINT_URL`). The customer's
//! keys are made, disabled and enabled by plain KMS calls, as the customer
//! would in its own account.

use crate::support::{DOMAIN, fresh_database};
use std::sync::Arc;
use std::time::Duration;
use tenantry_keys::{KeyError, KeyService, KmsKeyService, KmsSettings, TenantKey};
use tenantry_provisioner::effects::Effects;
use tenantry_provisioner::runner::SagaRunner;
use tenantry_provisioner::steps::{StepContext, StoreShards};
use tenantry_provisioner::{EffectsConfig, Retention};
use tenantry_sagas::saga::{ProductSpec, SagaSpec, TenantSpec};
use tenantry_sagas::{ProvisionerStore, SagaKind, SagaState, SagaStatus, Step, UnitOfWork};
use tenantry_schemas::{
    CountryCode, Edition, Envelope, KmsKeyRef, MIN_OCCURRED_AT_MS, ProductKey, SiteName, TenantId,
};
use tenantry_store::{ProductDatabases, Store};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The customer's side: KMS JSON requests to moto (it does not check
/// signatures, only which service the credential scope names).
struct Customer {
    http: reqwest::Client,
    endpoint: String,
}

impl Customer {
    fn new() -> Self {
        let endpoint = std::env::var("AWS_ENDPOINT_URL")
            .expect("these tests run against moto: `. infra/local/env` and `infra/local/up` first");
        Self {
            http: reqwest::Client::new(),
            endpoint,
        }
    }

    async fn call(&self, action: &str, body: serde_json::Value) -> serde_json::Value {
        let response = self
            .http
            .post(&self.endpoint)
            .header("X-Amz-Target", format!("TrentService.{action}"))
            .header("Content-Type", "application/x-amz-json-1.1")
            .header(
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=0",
            )
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "KMS {action}: {response:?}");
        response.json().await.unwrap()
    }

    /// A new key of the customer: (its ARN, its key id).
    async fn key(&self, usage: &str, spec: &str) -> (KmsKeyRef, String) {
        let created = self
            .call(
                "CreateKey",
                serde_json::json!({"KeyUsage": usage, "KeySpec": spec, "Description": "customer"}),
            )
            .await;
        let meta = &created["KeyMetadata"];
        (
            KmsKeyRef::parse(meta["Arn"].as_str().unwrap()).unwrap(),
            meta["KeyId"].as_str().unwrap().to_owned(),
        )
    }

    async fn set_enabled(&self, key_id: &str, enabled: bool) {
        let action = if enabled { "EnableKey" } else { "DisableKey" };
        self.call(action, serde_json::json!({ "KeyId": key_id }))
            .await;
    }

    /// `KeyState` and whether a deletion date is set.
    async fn state(&self, key_id: &str) -> (String, bool) {
        let described = self
            .call("DescribeKey", serde_json::json!({ "KeyId": key_id }))
            .await;
        let meta = &described["KeyMetadata"];
        (
            meta["KeyState"].as_str().unwrap().to_owned(),
            meta.get("DeletionDate").is_some(),
        )
    }
}

struct Fixture {
    store: Store,
    keys: Arc<KmsKeyService>,
    runner: SagaRunner<Store, Effects>,
}

async fn fixture() -> Fixture {
    let store = Store::connect(&fresh_database().await, 4).await.unwrap();
    let keys = Arc::new(KmsKeyService::from_env(KmsSettings::default()).expect("AWS settings"));
    let apps = tenantry_apps::AppsConfig {
        apps: Vec::new(),
        egress_allow: Vec::new(),
        issuer: "tenantry".into(),
        timeout: Duration::from_secs(1),
    };
    let steps = StepContext {
        config: EffectsConfig {
            site_domain: DOMAIN.into(),
            shard_capacity: 100,
            host_quarantine_ms: 0,
            retention: Retention::Drop,
        },
        keys: keys.clone(),
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
    let runner = SagaRunner::new(store.clone(), effects, 2, Arc::default());
    Fixture {
        store,
        keys,
        runner,
    }
}

fn fresh_tenant(prefix: &str) -> TenantId {
    TenantId::parse(&format!(
        "{prefix}-{}",
        &Uuid::new_v4().simple().to_string()[..12]
    ))
    .unwrap()
}

fn spec(tenant: &TenantId, kms_key: Option<&KmsKeyRef>, products: &[&str]) -> SagaSpec {
    let product = |p: &&str| ProductSpec {
        product: ProductKey::parse(p).unwrap(),
        edition: Edition::Standard,
        seats: 5,
        apps: vec![],
    };
    SagaSpec {
        tenant: TenantSpec {
            site: SiteName::parse(tenant.as_str()).unwrap(),
            owner_email: format!("owner@{tenant}.test"),
            country: CountryCode::parse("DE").unwrap(),
            residency_pin: None,
            kms_key: kms_key.cloned(),
        },
        product: products.first().map(product),
        products: products.iter().map(product).collect(),
    }
}

impl Fixture {
    /// Starts a saga of `kind` for `tenant` as the ingest would, and drives it.
    async fn run(
        &self,
        kind: SagaKind,
        tenant: &TenantId,
        spec: SagaSpec,
        sequence: i64,
    ) -> SagaState {
        let envelope = Envelope {
            event_id: Uuid::new_v4(),
            tenant_id: tenant.clone(),
            sequence,
            occurred_at_ms: MIN_OCCURRED_AT_MS,
            source: "byok-test".into(),
            correlation_id: None,
            causation_id: None,
        };
        let saga = SagaState::start(kind, &envelope, spec);
        let mut work = self.store.begin().await.unwrap();
        assert!(work.insert_saga(&saga).await.unwrap());
        work.commit().await.unwrap();
        self.runner
            .drive(saga.clone(), &CancellationToken::new())
            .await
            .unwrap();
        self.saga(saga.saga_id).await
    }

    async fn saga(&self, saga_id: Uuid) -> SagaState {
        self.store.saga(saga_id).await.unwrap().expect("stored")
    }

    async fn parked_reason(&self, tenant: &TenantId) -> Option<String> {
        self.store
            .parked(tenant)
            .await
            .unwrap()
            .map(|parked| parked.reason)
    }
}

impl Fixture {
    /// The sealed credentials of `tenant`'s `product` database, as stored.
    async fn sealed_credentials(&self, tenant: &TenantId, product: &str) -> Vec<u8> {
        let (sealed,): (String,) = sqlx::query_as(
            "SELECT credentials FROM product_databases WHERE tenant_id = $1 AND product = $2",
        )
        .bind(tenant.as_str())
        .bind(product)
        .fetch_one(self.store.pool())
        .await
        .unwrap();
        hex::decode(sealed).expect("hex credentials")
    }
}

/// A bad key fails the tenant's creation with the reason: missing, disabled,
/// or not for encryption.
#[tokio::test]
async fn a_bad_key_fails_the_creation_with_the_reason() {
    let f = fixture().await;
    let customer = Customer::new();
    let missing = KmsKeyRef::parse(&format!(
        "arn:aws:kms:us-east-1:123456789012:key/{}",
        Uuid::new_v4()
    ))
    .unwrap();
    let (disabled, disabled_id) = customer.key("ENCRYPT_DECRYPT", "SYMMETRIC_DEFAULT").await;
    customer.set_enabled(&disabled_id, false).await;
    let (signing, _) = customer.key("SIGN_VERIFY", "RSA_2048").await;
    for (key, reason) in [
        (missing, "NotFoundException"),
        (disabled, "its key state is Disabled, not Enabled"),
        (signing, "its key usage is SIGN_VERIFY, not ENCRYPT_DECRYPT"),
    ] {
        let tenant = fresh_tenant("byok-bad");
        let saga = f
            .run(
                SagaKind::ProvisionTenant,
                &tenant,
                spec(&tenant, Some(&key), &[]),
                1,
            )
            .await;
        assert_eq!(saga.status, SagaStatus::Failed, "{key}");
        assert!(!saga.blocked);
        let failure = saga.failure.clone().unwrap();
        assert!(
            failure.contains("step 1 record_licence")
                && failure.contains(key.as_str())
                && failure.contains(reason),
            "{failure}"
        );
        let parked = f.parked_reason(&tenant).await.expect("parked");
        assert!(parked.contains(reason), "{parked}");
    }
}

/// The whole life of a tenant with its own key: its credentials sealed
/// under it; the key disabled later parks the tenant's next saga without
/// undoing anything, while another tenant's saga completes; enabled again,
/// the operator's retry resumes the saga; destroyed, the tenant is
/// forgotten and the key left enabled, never scheduled for deletion.
#[tokio::test]
async fn a_tenant_with_its_own_key_from_creation_to_destruction() {
    let f = fixture().await;
    let customer = Customer::new();
    let (own, own_id) = customer.key("ENCRYPT_DECRYPT", "SYMMETRIC_DEFAULT").await;
    let tenant = fresh_tenant("byok");
    let key = TenantKey::customer(tenant.clone(), own.clone());

    let created = f
        .run(
            SagaKind::ProvisionTenant,
            &tenant,
            spec(&tenant, Some(&own), &[]),
            1,
        )
        .await;
    assert_eq!(
        created.status,
        SagaStatus::Completed,
        "{:?}",
        created.failure
    );
    let jira = f
        .run(
            SagaKind::ProvisionProduct,
            &tenant,
            spec(&tenant, Some(&own), &["jira"]),
            2,
        )
        .await;
    assert_eq!(jira.status, SagaStatus::Completed, "{:?}", jira.failure);
    let sealed = f.sealed_credentials(&tenant, "jira").await;
    let opened = f.keys.open_with(&key, &sealed).await.unwrap();
    assert!(String::from_utf8(opened).unwrap().contains("\"password\""));
    let managed = TenantKey::managed(tenant.clone());
    assert!(
        f.keys.open_with(&managed, &sealed).await.is_err(),
        "not Tenantry's key"
    );

    // The customer disables its key.
    customer.set_enabled(&own_id, false).await;
    let err = f.keys.open_with(&key, &sealed).await.unwrap_err();
    assert!(matches!(err, KeyError::Disabled { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains(tenant.as_str()) && message.contains(own.as_str()),
        "{message}"
    );

    let confluence = f
        .run(
            SagaKind::ProvisionProduct,
            &tenant,
            spec(&tenant, Some(&own), &["confluence"]),
            3,
        )
        .await;
    assert_eq!(confluence.status, SagaStatus::Failed);
    assert!(confluence.blocked, "{:?}", confluence.failure);
    assert!(confluence.compensated.is_empty(), "nothing undone");
    assert_eq!(confluence.results.len(), 5, "steps 1-5 kept");
    let parked = f
        .parked_reason(&tenant)
        .await
        .expect("parked, not dead-lettered");
    assert!(
        parked.contains("provision_database")
            && parked.contains(own.as_str())
            && parked.contains("disabled"),
        "{parked}"
    );

    // Meanwhile another tenant, on Tenantry's own key, flows.
    let other = fresh_tenant("byok-other");
    let other_created = f
        .run(
            SagaKind::ProvisionTenant,
            &other,
            spec(&other, None, &[]),
            1,
        )
        .await;
    assert_eq!(other_created.status, SagaStatus::Completed);
    let other_jira = f
        .run(
            SagaKind::ProvisionProduct,
            &other,
            spec(&other, None, &["jira"]),
            2,
        )
        .await;
    assert_eq!(
        other_jira.status,
        SagaStatus::Completed,
        "{:?}",
        other_jira.failure
    );

    // Enabled again, the operator's retry (`tenantry sagas retry`) resumes
    // at the blocked step and releases the tenant.
    customer.set_enabled(&own_id, true).await;
    f.runner
        .retry(confluence.saga_id, true, &CancellationToken::new())
        .await
        .unwrap();
    let resumed = f.saga(confluence.saga_id).await;
    assert_eq!(
        resumed.status,
        SagaStatus::Completed,
        "{:?}",
        resumed.failure
    );
    assert!(f.parked_reason(&tenant).await.is_none(), "released");
    let sealed_confluence = f.sealed_credentials(&tenant, "confluence").await;
    f.keys.open_with(&key, &sealed_confluence).await.unwrap();

    // Destruction: the tenant's data keys are forgotten; its key is left
    // as the customer had it.
    let destroyed = f
        .run(
            SagaKind::DestroyTenant,
            &tenant,
            spec(&tenant, Some(&own), &["confluence", "jira"]),
            4,
        )
        .await;
    assert_eq!(
        destroyed.status,
        SagaStatus::Completed,
        "{:?}",
        destroyed.failure
    );
    let shredded = destroyed.results.get(&Step::ShredDataKey).unwrap();
    assert!(
        shredded.get("data_key") == Some("forgotten"),
        "{shredded:?}"
    );
    assert_eq!(
        customer.state(&own_id).await,
        ("Enabled".to_owned(), false),
        "no DisableKey, no ScheduleKeyDeletion on the customer's key"
    );
    assert_eq!(
        f.keys.open_with(&key, &sealed).await.unwrap_err(),
        KeyError::Destroyed(tenant.clone())
    );
}
