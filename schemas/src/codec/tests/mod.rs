use super::*;
use crate::catalog::AVSC_FILES;
use crate::events::*;
use crate::ids::*;
use crate::kms_key::KmsKeyRef;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use uuid::Uuid;

/// 2025-01-01T00:00:00Z in Unix milliseconds (case A3).
const NEW_YEAR_2025_MS: i64 = 1_735_689_600_000;

fn envelope(sequence: i64) -> Envelope {
    Envelope {
        event_id: Uuid::from_u128(0x1000 + sequence as u128),
        tenant_id: TenantId::parse("t3").unwrap(),
        sequence,
        occurred_at_ms: NEW_YEAR_2025_MS,
        source: "commerce".into(),
        correlation_id: Some("corr-1".into()),
        causation_id: (sequence % 2 == 0).then(|| "cause-1".into()),
    }
}

fn jira() -> ProductKey {
    ProductKey::parse("jira").unwrap()
}

fn created(pin: Option<Region>) -> CommerceRecord {
    CommerceRecord {
        envelope: envelope(1),
        event: CommerceEvent::TenantCreated(TenantCreated {
            site: SiteName::parse("acme").unwrap(),
            owner_email: "owner@example.com".into(),
            country: CountryCode::parse("DE").unwrap(),
            residency_pin: pin,
            kms_key: None,
        }),
    }
}

const CUSTOMER_KEY: &str =
    "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

/// A tenant bringing its own KMS key.
fn created_byok() -> CommerceRecord {
    let mut record = created(None);
    if let CommerceEvent::TenantCreated(e) = &mut record.event {
        e.kms_key = Some(KmsKeyRef::parse(CUSTOMER_KEY).unwrap());
    }
    record
}

fn activated() -> CommerceRecord {
    CommerceRecord {
        envelope: envelope(2),
        event: CommerceEvent::ProductActivated(ProductActivated {
            product: jira(),
            edition: Edition::Premium,
            seats: 50,
            apps: vec![AppKey::parse("jira-slack").unwrap()],
        }),
    }
}

fn commerce_samples() -> Vec<CommerceRecord> {
    let rec = |sequence, event| CommerceRecord {
        envelope: envelope(sequence),
        event,
    };
    vec![
        created(Some(Region::Eu)),
        created(None),
        created_byok(),
        activated(),
        rec(
            3,
            CommerceEvent::TenantDestroyed(TenantDestroyed {
                reason: Some("churn".into()),
            }),
        ),
        rec(
            4,
            CommerceEvent::TenantDestroyed(TenantDestroyed { reason: None }),
        ),
        rec(
            5,
            CommerceEvent::ProductDeactivated(ProductDeactivated { product: jira() }),
        ),
        rec(
            6,
            CommerceEvent::ProductSuspended(ProductSuspended {
                product: jira(),
                reason: Some("billing".into()),
            }),
        ),
        rec(
            7,
            CommerceEvent::ProductUnsuspended(ProductUnsuspended { product: jira() }),
        ),
        rec(
            8,
            CommerceEvent::LicenceUpdated(LicenceUpdated {
                product: jira(),
                edition: Edition::Unknown,
                seats: 1,
            }),
        ),
    ]
}

fn provisioning_samples() -> Vec<ProvisioningRecord> {
    let saga_id = Uuid::from_u128(42);
    let rec = |sequence, event| ProvisioningRecord {
        envelope: envelope(sequence),
        event,
    };
    let outcome = ProvisionedOutcome {
        site_host: Some("acme.tenantry.test".into()),
        region: Some(Region::De),
        region_pinned: true,
        shard: Some("shard-de-1".into()),
        database: Some("jira_t3".into()),
        groups: vec!["site-admins".into(), "jira-users".into()],
        installed_apps: vec![AppKey::parse("jira-slack").unwrap()],
        product_shards: [(jira(), "de-shard-2".to_owned())].into(),
        product_databases: [(jira(), "t_t3__jira__de".to_owned())].into(),
    };
    vec![
        rec(
            1,
            ProvisioningEvent::SagaStarted(SagaStarted {
                saga_id,
                saga_kind: "provision_product".into(),
                trigger_event_id: Uuid::from_u128(7),
                trigger_sequence: 2,
                product: Some(jira()),
            }),
        ),
        rec(
            2,
            ProvisioningEvent::StepCompleted(StepCompleted {
                saga_id,
                step: 2,
                step_name: "create_site".into(),
                detail: BTreeMap::from([("host".into(), "acme.tenantry.test".into())]),
            }),
        ),
        rec(
            3,
            ProvisioningEvent::StepFailed(StepFailed {
                saga_id,
                step: 6,
                step_name: "provision_database".into(),
                attempt: 2,
                reason: "shard full".into(),
                retryable: true,
            }),
        ),
        rec(
            4,
            ProvisioningEvent::CompensationCompleted(CompensationCompleted {
                saga_id,
                step: 2,
                step_name: "create_site".into(),
            }),
        ),
        rec(
            5,
            ProvisioningEvent::SagaCompleted(SagaCompleted {
                saga_id,
                saga_kind: "provision_tenant".into(),
                trigger_sequence: 1,
                product: None,
                outcome,
            }),
        ),
        rec(
            5,
            ProvisioningEvent::SagaCompleted(SagaCompleted {
                saga_id,
                saga_kind: "provision_tenant".into(),
                trigger_sequence: 1,
                product: None,
                outcome: ProvisionedOutcome::default(),
            }),
        ),
        rec(
            6,
            ProvisioningEvent::SagaFailed(SagaFailed {
                saga_id,
                saga_kind: "provision_product".into(),
                trigger_sequence: 2,
                product: Some(jira()),
                reason: "step 6 kept failing".into(),
                compensated: true,
            }),
        ),
        rec(7, ProvisioningEvent::TenantState(Box::new(tenant_state()))),
        rec(8, ProvisioningEvent::TenantState(Box::default())),
    ]
}

/// A tenant state with every optional member set.
fn tenant_state() -> TenantState {
    TenantState {
        commerce_sequence: 4,
        status: TenantStatus::Active,
        site: Some("acme".into()),
        site_host: Some("acme.tenantry.test".into()),
        region: Some(Region::De),
        region_pinned: true,
        moving_to: Some(Region::Ch),
        products: BTreeMap::from([
            (
                jira(),
                ProductContext {
                    state: ProductState::Active,
                    licence: Some(Licence {
                        seats: 25,
                        edition: Edition::Premium,
                    }),
                    shard: Some("de-1".into()),
                    database: Some("p_acme_jira".into()),
                    installed_apps: vec![AppKey::parse("jira-slack").unwrap()],
                    failure: None,
                },
            ),
            (
                ProductKey::parse("confluence").unwrap(),
                ProductContext {
                    state: ProductState::Failed,
                    licence: None,
                    shard: None,
                    database: None,
                    installed_apps: vec![],
                    failure: Some("step 6 provision_database: shard full".into()),
                },
            ),
        ]),
        groups: vec!["jira-users".into(), "site-admins".into()],
        last_failure: Some("step 6 provision_database: shard full".into()),
        rejections: vec![Rejection {
            sequence: 3,
            kind: "licence_updated".into(),
            reason: "product confluence is not active or suspended".into(),
        }],
        parked: Some(Parking {
            kind: "saga_failed".into(),
            reason: "provision_product saga failed".into(),
            waiting: 2,
            last_waiting: 7,
        }),
        pending_saga: Some("provision_product".into()),
    }
}

/// The current catalog with one file's JSON edited: an older or newer writer.
fn catalog_with(file: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Catalog {
    let mut edit = Some(edit);
    let files = AVSC_FILES.map(|(name, text)| {
        let mut json: serde_json::Value = serde_json::from_str(text).unwrap();
        if name == file {
            (edit.take().unwrap())(&mut json);
        }
        (name, json.to_string())
    });
    Catalog::compose(files).unwrap()
}

fn fields_mut(value: &mut Value) -> &mut Vec<(String, Value)> {
    match value {
        Value::Record(fields) => fields,
        other => panic!("not a record: {other:?}"),
    }
}

/// Replaces (or with `None` removes) the field at `path` of a record value.
fn set(value: &mut Value, path: &[&str], new: Option<Value>) {
    let fields = fields_mut(value);
    let at = fields.iter().position(|(n, _)| n == path[0]).unwrap();
    match (path.len(), new) {
        (1, Some(new)) => fields[at].1 = new,
        (1, None) => {
            fields.remove(at);
        }
        (_, new) => set(&mut fields[at].1, &path[1..], new),
    }
}

/// Registers `writer` and frames `value` written with it.
fn write_with(registry: &mut EmbeddedRegistry, writer: &Schema, value: Value) -> Vec<u8> {
    let id = registry.register(writer.clone()).unwrap();
    frame(id, &encode_body(writer, value).unwrap())
}

fn current(full_name: &str) -> Arc<Schema> {
    Arc::clone(Catalog::current().get(full_name).unwrap().schema())
}

mod failures;
mod resolution;
mod round_trip;
