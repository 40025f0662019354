//! Event types of the contract: the envelope, the seven commerce events and the
//! provisioning events: the tenant state the provisioner decides (and the
//! retired saga events of the contract before it). Each type mirrors one `.avsc` file in
//! `schemas/` (field for field); the Avro codec maps between the two.

use crate::ids::{AppKey, CountryCode, ProductKey, Region, SiteName, TenantId, ValidationError};
use crate::kms_key::KmsKeyRef;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

mod state;

pub use state::*;

/// Topic of commerce lifecycle events, keyed by tenant id.
pub const COMMERCE_TOPIC: &str = "commerce.lifecycle.v1";
/// Dead-letter topic for commerce records that do not decode or validate.
pub const COMMERCE_DLQ_TOPIC: &str = "commerce.lifecycle.v1.dlq";
/// Topic of provisioning (saga) events, keyed by tenant id.
pub const PROVISIONING_TOPIC: &str = "provisioning.events.v1";

/// The tenant context changelog: every new version of a tenant's context,
/// key tenant id, value the context as JSON with its revision; compacted
/// (`cleanup.policy=compact`), so it holds each tenant's newest version.
/// Written by the projector in one Kafka transaction with its offsets.
pub const CHANGELOG_TOPIC: &str = "tenant-context.changelog.v1";

/// Earliest accepted `occurred_at`: 2000-01-01T00:00:00Z in Unix milliseconds.
/// A smaller value is almost always seconds written where milliseconds were
/// meant (case A3), so it is rejected rather than applied.
pub const MIN_OCCURRED_AT_MS: i64 = 946_684_800_000;

/// Fields common to every record (`schemas/envelope.avsc`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Unique event id (UUID); the deduplication key everywhere.
    pub event_id: Uuid,
    /// Tenant the event is about; also the Kafka key.
    pub tenant_id: TenantId,
    /// Per-tenant sequence number assigned by the emitter, starting at 1.
    /// For commerce events it comes from commerce; for provisioning events
    /// from the provisioner's per-tenant outbox counter.
    pub sequence: i64,
    /// When the event happened, Unix epoch milliseconds (Avro `timestamp-millis`).
    pub occurred_at_ms: i64,
    /// Emitting system (`commerce`, `tenantry-provisioner`, `tenantry-cli`).
    pub source: String,
    /// Groups the events of one business flow (the saga id for saga events).
    pub correlation_id: Option<String>,
    /// Event id that directly caused this one.
    pub causation_id: Option<String>,
}

impl Envelope {
    /// Checks the rules the Avro schema cannot express: sequence ≥ 1,
    /// `occurred_at_ms` ≥ [`MIN_OCCURRED_AT_MS`], non-empty source.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.sequence < 1 {
            return Err(ValidationError::new(
                "sequence",
                format!("must be >= 1, got {}", self.sequence),
            ));
        }
        if self.occurred_at_ms < MIN_OCCURRED_AT_MS {
            return Err(ValidationError::new(
                "occurred_at",
                format!(
                    "must be Unix milliseconds after 2000-01-01, got {} (seconds instead of milliseconds?)",
                    self.occurred_at_ms
                ),
            ));
        }
        if self.source.trim().is_empty() {
            return Err(ValidationError::new("source", "must not be empty"));
        }
        Ok(())
    }
}

/// Licence edition (`schemas/edition.avsc`). `Unknown` is the Avro enum
/// default: a symbol added by a newer writer decodes to it and grants nothing
/// beyond the free edition (case A1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Edition {
    /// Free edition.
    Free,
    /// Standard edition.
    Standard,
    /// Premium edition.
    Premium,
    /// Enterprise edition.
    Enterprise,
    /// A symbol this reader does not know.
    Unknown,
}

impl Edition {
    /// Parses `free|standard|premium|enterprise` (any case).
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        match raw.to_ascii_lowercase().as_str() {
            "free" => Ok(Edition::Free),
            "standard" => Ok(Edition::Standard),
            "premium" => Ok(Edition::Premium),
            "enterprise" => Ok(Edition::Enterprise),
            _ => Err(ValidationError::new(
                "edition",
                format!("must be one of free, standard, premium, enterprise; got {raw:?}"),
            )),
        }
    }

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Edition::Free => "free",
            Edition::Standard => "standard",
            Edition::Premium => "premium",
            Edition::Enterprise => "enterprise",
            Edition::Unknown => "unknown",
        }
    }
}

/// Maximum seats on one licence; larger values are treated as input errors.
pub const MAX_SEATS: i32 = 1_000_000;

fn check_seats(seats: i32) -> Result<(), ValidationError> {
    if (1..=MAX_SEATS).contains(&seats) {
        Ok(())
    } else {
        Err(ValidationError::new(
            "seats",
            format!("must be between 1 and {MAX_SEATS}, got {seats}"),
        ))
    }
}

/// A new customer tenant and its site (`tenant_created.avsc`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantCreated {
    /// Site name; the site host is `<site>.<domain>`.
    pub site: SiteName,
    /// Owner's e-mail; the owner becomes the first site admin.
    pub owner_email: String,
    /// Country of the majority of the tenant's users (placement when unpinned).
    pub country: CountryCode,
    /// Data-residency pin; when set, the tenant never leaves this region.
    pub residency_pin: Option<Region>,
    /// The tenant's own KMS key ("bring your own key"): its data keys are
    /// wrapped by this key instead of one Tenantry creates for it.
    #[serde(default)]
    pub kms_key: Option<KmsKeyRef>,
}

/// The tenant is to be destroyed (`tenant_destroyed.avsc`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantDestroyed {
    /// Free-text reason from commerce.
    pub reason: Option<String>,
}

/// A product is licensed on the tenant's site (`product_activated.avsc`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductActivated {
    /// Product key.
    pub product: ProductKey,
    /// Licence edition.
    pub edition: Edition,
    /// Licensed seats, 1..=[`MAX_SEATS`].
    pub seats: i32,
    /// Licensed apps to install (step 7).
    pub apps: Vec<AppKey>,
}

/// A product licence ended (`product_deactivated.avsc`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductDeactivated {
    /// Product key.
    pub product: ProductKey,
}

/// Access to a product is suspended, data kept (`product_suspended.avsc`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductSuspended {
    /// Product key.
    pub product: ProductKey,
    /// Free-text reason (e.g. `billing`).
    pub reason: Option<String>,
}

/// A suspension is lifted (`product_unsuspended.avsc`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductUnsuspended {
    /// Product key.
    pub product: ProductKey,
}

/// Seats or edition changed (`licence_updated.avsc`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LicenceUpdated {
    /// Product key.
    pub product: ProductKey,
    /// New edition.
    pub edition: Edition,
    /// New seat count, 1..=[`MAX_SEATS`].
    pub seats: i32,
}

/// The tenant's data must live in `residency_pin` from now on
/// (`residency_pinned.avsc`): a pin set or changed after `tenant_created`.
/// Not one of the seed's seven kinds: a later pin moves the tenant, and
/// `tenant_created` is the only other event that carries a pin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResidencyPinned {
    /// Region the tenant is pinned to.
    pub residency_pin: Region,
    /// Free-text reason.
    pub reason: Option<String>,
}

/// One of the commerce events: the seed's seven, plus [`ResidencyPinned`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CommerceEvent {
    /// Tenant event: creation.
    TenantCreated(TenantCreated),
    /// Tenant event: destruction.
    TenantDestroyed(TenantDestroyed),
    /// Product event: activation.
    ProductActivated(ProductActivated),
    /// Product event: deactivation.
    ProductDeactivated(ProductDeactivated),
    /// Product event: suspension.
    ProductSuspended(ProductSuspended),
    /// Product event: un-suspension.
    ProductUnsuspended(ProductUnsuspended),
    /// Product event: licence update.
    LicenceUpdated(LicenceUpdated),
    /// Tenant event: data-residency pin set or changed (starts a move).
    ResidencyPinned(ResidencyPinned),
}

impl CommerceEvent {
    /// Snake-case kind name as used on the CLI (`tenant_created`).
    pub fn kind(&self) -> &'static str {
        match self {
            CommerceEvent::TenantCreated(_) => "tenant_created",
            CommerceEvent::TenantDestroyed(_) => "tenant_destroyed",
            CommerceEvent::ProductActivated(_) => "product_activated",
            CommerceEvent::ProductDeactivated(_) => "product_deactivated",
            CommerceEvent::ProductSuspended(_) => "product_suspended",
            CommerceEvent::ProductUnsuspended(_) => "product_unsuspended",
            CommerceEvent::LicenceUpdated(_) => "licence_updated",
            CommerceEvent::ResidencyPinned(_) => "residency_pinned",
        }
    }

    /// Product the event is about, if it is a product event.
    pub fn product(&self) -> Option<&ProductKey> {
        match self {
            CommerceEvent::TenantCreated(_)
            | CommerceEvent::TenantDestroyed(_)
            | CommerceEvent::ResidencyPinned(_) => None,
            CommerceEvent::ProductActivated(e) => Some(&e.product),
            CommerceEvent::ProductDeactivated(e) => Some(&e.product),
            CommerceEvent::ProductSuspended(e) => Some(&e.product),
            CommerceEvent::ProductUnsuspended(e) => Some(&e.product),
            CommerceEvent::LicenceUpdated(e) => Some(&e.product),
        }
    }

    /// Rules beyond the types: seats in range, owner e-mail shaped like one.
    pub fn validate(&self) -> Result<(), ValidationError> {
        match self {
            CommerceEvent::TenantCreated(e) => {
                let email = e.owner_email.trim();
                let ok = email.len() <= 254
                    && email
                        .split_once('@')
                        .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'));
                if !ok {
                    return Err(ValidationError::new(
                        "owner_email",
                        format!("must be an e-mail address like owner@example.com, got {email:?}"),
                    ));
                }
                Ok(())
            }
            CommerceEvent::ProductActivated(e) => check_seats(e.seats),
            CommerceEvent::LicenceUpdated(e) => check_seats(e.seats),
            _ => Ok(()),
        }
    }
}

/// A decoded commerce record: envelope plus event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommerceRecord {
    /// Common fields.
    pub envelope: Envelope,
    /// The event.
    pub event: CommerceEvent,
}

impl CommerceRecord {
    /// Validates envelope and event; the error names the first bad field.
    pub fn validate(&self) -> Result<(), ValidationError> {
        self.envelope.validate()?;
        self.event.validate()
    }
}

/// What a completed saga provisioned: everything the tenant context needs from
/// the provisioned side (`provisioned_outcome.avsc`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProvisionedOutcome {
    /// Site host `<site>.<domain>`.
    pub site_host: Option<String>,
    /// Region the tenant's products live in.
    pub region: Option<Region>,
    /// Whether `region` is a data-residency pin.
    pub region_pinned: bool,
    /// Shard holding the product database (step 6).
    pub shard: Option<String>,
    /// Product database name on the shard (step 6).
    pub database: Option<String>,
    /// Identity groups that exist for the tenant after the saga (step 5).
    pub groups: Vec<String>,
    /// Apps installed for the product (step 7).
    pub installed_apps: Vec<AppKey>,
    /// After a move saga: product → shard of its moved database.
    #[serde(default)]
    pub product_shards: BTreeMap<ProductKey, String>,
    /// After a move saga: product → name of its moved database.
    #[serde(default)]
    pub product_databases: BTreeMap<ProductKey, String>,
}

/// Saga started (`saga_started.avsc`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SagaStarted {
    /// Saga id.
    pub saga_id: Uuid,
    /// Saga kind (`provision_tenant`, `provision_product`).
    pub saga_kind: String,
    /// Commerce event that triggered it.
    pub trigger_event_id: Uuid,
    /// Commerce sequence of the trigger.
    pub trigger_sequence: i64,
    /// Product, for product sagas.
    pub product: Option<ProductKey>,
}

/// A step finished and its result is persisted (`step_completed.avsc`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepCompleted {
    /// Saga id.
    pub saga_id: Uuid,
    /// Step number 1..=7 (DESIGN.md, "The seven steps").
    pub step: i32,
    /// Step name (`create_site`).
    pub step_name: String,
    /// Step result, as string pairs (`host` → `acme.tenantry.test`).
    pub detail: BTreeMap<String, String>,
}

/// A step attempt failed (`step_failed.avsc`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepFailed {
    /// Saga id.
    pub saga_id: Uuid,
    /// Step number 1..=7.
    pub step: i32,
    /// Step name.
    pub step_name: String,
    /// Attempt number, from 1.
    pub attempt: i32,
    /// Why it failed.
    pub reason: String,
    /// Whether it will be retried.
    pub retryable: bool,
}

/// A completed step was undone (`compensation_completed.avsc`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompensationCompleted {
    /// Saga id.
    pub saga_id: Uuid,
    /// Step number that was compensated.
    pub step: i32,
    /// Step name.
    pub step_name: String,
}

/// Saga reached its goal (`saga_completed.avsc`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SagaCompleted {
    /// Saga id.
    pub saga_id: Uuid,
    /// Saga kind.
    pub saga_kind: String,
    /// Commerce sequence of the trigger.
    pub trigger_sequence: i64,
    /// Product, for product sagas.
    pub product: Option<ProductKey>,
    /// What was provisioned.
    pub outcome: ProvisionedOutcome,
}

/// Saga ended without reaching its goal (`saga_failed.avsc`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SagaFailed {
    /// Saga id.
    pub saga_id: Uuid,
    /// Saga kind.
    pub saga_kind: String,
    /// Commerce sequence of the trigger.
    pub trigger_sequence: i64,
    /// Product, for product sagas.
    pub product: Option<ProductKey>,
    /// Why, for operators.
    pub reason: String,
    /// True when every completed step was compensated.
    pub compensated: bool,
}

/// One of the provisioning events on [`PROVISIONING_TOPIC`].
///
/// Only [`ProvisioningEvent::TenantState`] is written. The saga kinds are
/// retired: the contract before it published every saga transition, and
/// readers still decode them (the schema compatibility rules keep every kind
/// that ever reached a topic) so a topic with old records replays; they
/// carry nothing a reader applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProvisioningEvent {
    /// Saga started.
    SagaStarted(SagaStarted),
    /// Step completed.
    StepCompleted(StepCompleted),
    /// Step failed.
    StepFailed(StepFailed),
    /// Compensation completed.
    CompensationCompleted(CompensationCompleted),
    /// Saga completed.
    SagaCompleted(SagaCompleted),
    /// Saga failed.
    SagaFailed(SagaFailed),
    /// The tenant's state as decided; the only kind written today.
    TenantState(Box<TenantState>),
}

impl ProvisioningEvent {
    /// Snake-case kind name.
    pub fn kind(&self) -> &'static str {
        match self {
            ProvisioningEvent::SagaStarted(_) => "saga_started",
            ProvisioningEvent::StepCompleted(_) => "step_completed",
            ProvisioningEvent::StepFailed(_) => "step_failed",
            ProvisioningEvent::CompensationCompleted(_) => "compensation_completed",
            ProvisioningEvent::SagaCompleted(_) => "saga_completed",
            ProvisioningEvent::SagaFailed(_) => "saga_failed",
            ProvisioningEvent::TenantState(_) => "tenant_state",
        }
    }
}

/// A decoded provisioning record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisioningRecord {
    /// Common fields.
    pub envelope: Envelope,
    /// The event.
    pub event: ProvisioningEvent,
}

impl ProvisioningRecord {
    /// Validates the envelope (the only rules beyond the types so far); the
    /// error names the bad field.
    pub fn validate(&self) -> Result<(), ValidationError> {
        self.envelope.validate()
    }
}
