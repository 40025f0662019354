//! Provisioning records ⇄ Avro values (`tenantry.provisioning.*`).

use super::DecodeError;
use super::commerce::{edition_from, edition_symbol};
use super::value::{
    Fields, envelope_from, envelope_to, field, opt, parse, parse_all, string, strings,
};
use crate::events::{
    CompensationCompleted, Licence, Parking, ProductContext, ProductState, ProvisionedOutcome,
    ProvisioningEvent, ProvisioningRecord, Rejection, SagaCompleted, SagaFailed, SagaStarted,
    StepCompleted, StepFailed, TenantState, TenantStatus,
};
use crate::ids::{AppKey, ProductKey, Region};
use apache_avro::types::Value;
use std::collections::{BTreeMap, HashMap};

pub(crate) const SAGA_STARTED: &str = "tenantry.provisioning.SagaStarted";
pub(crate) const STEP_COMPLETED: &str = "tenantry.provisioning.StepCompleted";
pub(crate) const STEP_FAILED: &str = "tenantry.provisioning.StepFailed";
pub(crate) const COMPENSATION_COMPLETED: &str = "tenantry.provisioning.CompensationCompleted";
pub(crate) const SAGA_COMPLETED: &str = "tenantry.provisioning.SagaCompleted";
pub(crate) const SAGA_FAILED: &str = "tenantry.provisioning.SagaFailed";
pub(crate) const TENANT_STATE: &str = "tenantry.provisioning.TenantState";

/// Record full name of the event's schema: its kind on the wire.
pub(crate) fn full_name(event: &ProvisioningEvent) -> &'static str {
    match event {
        ProvisioningEvent::SagaStarted(_) => SAGA_STARTED,
        ProvisioningEvent::StepCompleted(_) => STEP_COMPLETED,
        ProvisioningEvent::StepFailed(_) => STEP_FAILED,
        ProvisioningEvent::CompensationCompleted(_) => COMPENSATION_COMPLETED,
        ProvisioningEvent::SagaCompleted(_) => SAGA_COMPLETED,
        ProvisioningEvent::SagaFailed(_) => SAGA_FAILED,
        ProvisioningEvent::TenantState(_) => TENANT_STATE,
    }
}

fn outcome_to(o: &ProvisionedOutcome) -> Value {
    Value::Record(vec![
        field("site_host", opt(o.site_host.as_deref())),
        field("region", opt(o.region.map(Region::as_str))),
        field("region_pinned", Value::Boolean(o.region_pinned)),
        field("shard", opt(o.shard.as_deref())),
        field("database", opt(o.database.as_deref())),
        field("groups", strings(o.groups.iter().map(String::as_str))),
        field(
            "installed_apps",
            strings(o.installed_apps.iter().map(AppKey::as_str)),
        ),
        field("product_shards", string_map(&o.product_shards)),
        field("product_databases", string_map(&o.product_databases)),
    ])
}

fn string_map(map: &BTreeMap<ProductKey, String>) -> Value {
    Value::Map(
        map.iter()
            .map(|(k, v)| (k.to_string(), string(v)))
            .collect::<HashMap<_, _>>(),
    )
}

fn product_map(
    f: &mut Fields,
    name: &str,
    path: &str,
) -> Result<BTreeMap<ProductKey, String>, DecodeError> {
    f.string_map(name)?
        .into_iter()
        .map(|(k, v)| Ok((parse(&k, path, ProductKey::parse)?, v)))
        .collect()
}

fn outcome_from(mut f: Fields) -> Result<ProvisionedOutcome, DecodeError> {
    Ok(ProvisionedOutcome {
        site_host: f.opt_string("site_host")?,
        region: region_from(&mut f, "region", "outcome.region")?,
        region_pinned: f.boolean("region_pinned")?,
        shard: f.opt_string("shard")?,
        database: f.opt_string("database")?,
        groups: f.strings("groups")?,
        installed_apps: parse_all(
            f.strings("installed_apps")?,
            "outcome.installed_apps",
            AppKey::parse,
        )?,
        product_shards: product_map(&mut f, "product_shards", "outcome.product_shards")?,
        product_databases: product_map(&mut f, "product_databases", "outcome.product_databases")?,
    })
}

fn uuid(u: &uuid::Uuid) -> Value {
    Value::Uuid(*u)
}

fn product_to(p: Option<&ProductKey>) -> (String, Value) {
    field("product", opt(p.map(ProductKey::as_str)))
}

fn product_from(f: &mut Fields) -> Result<Option<ProductKey>, DecodeError> {
    match f.opt_string("product")? {
        Some(p) => parse(&p, "product", ProductKey::parse).map(Some),
        None => Ok(None),
    }
}

/// The record as an unresolved Avro value; resolve it against a writer schema
/// before encoding.
pub(crate) fn to_value(record: &ProvisioningRecord) -> Value {
    let mut fields = vec![field("envelope", envelope_to(&record.envelope))];
    match &record.event {
        ProvisioningEvent::SagaStarted(e) => fields.extend([
            field("saga_id", uuid(&e.saga_id)),
            field("saga_kind", string(&e.saga_kind)),
            field("trigger_event_id", uuid(&e.trigger_event_id)),
            field("trigger_sequence", Value::Long(e.trigger_sequence)),
            product_to(e.product.as_ref()),
        ]),
        ProvisioningEvent::StepCompleted(e) => fields.extend([
            field("saga_id", uuid(&e.saga_id)),
            field("step", Value::Int(e.step)),
            field("step_name", string(&e.step_name)),
            field(
                "detail",
                Value::Map(
                    e.detail
                        .iter()
                        .map(|(k, v)| (k.clone(), string(v)))
                        .collect::<HashMap<_, _>>(),
                ),
            ),
        ]),
        ProvisioningEvent::StepFailed(e) => fields.extend([
            field("saga_id", uuid(&e.saga_id)),
            field("step", Value::Int(e.step)),
            field("step_name", string(&e.step_name)),
            field("attempt", Value::Int(e.attempt)),
            field("reason", string(&e.reason)),
            field("retryable", Value::Boolean(e.retryable)),
        ]),
        ProvisioningEvent::CompensationCompleted(e) => fields.extend([
            field("saga_id", uuid(&e.saga_id)),
            field("step", Value::Int(e.step)),
            field("step_name", string(&e.step_name)),
        ]),
        ProvisioningEvent::SagaCompleted(e) => fields.extend([
            field("saga_id", uuid(&e.saga_id)),
            field("saga_kind", string(&e.saga_kind)),
            field("trigger_sequence", Value::Long(e.trigger_sequence)),
            product_to(e.product.as_ref()),
            field("outcome", outcome_to(&e.outcome)),
        ]),
        ProvisioningEvent::SagaFailed(e) => fields.extend([
            field("saga_id", uuid(&e.saga_id)),
            field("saga_kind", string(&e.saga_kind)),
            field("trigger_sequence", Value::Long(e.trigger_sequence)),
            product_to(e.product.as_ref()),
            field("reason", string(&e.reason)),
            field("compensated", Value::Boolean(e.compensated)),
        ]),
        ProvisioningEvent::TenantState(e) => fields.extend(tenant_state_to(e)),
    }
    Value::Record(fields)
}

/// The record from a value resolved to the reader schema of `full_name`.
pub(crate) fn from_value(full_name: &str, value: Value) -> Result<ProvisioningRecord, DecodeError> {
    let mut f = Fields::new(value, full_name)?;
    let envelope = envelope_from(f.record("envelope")?)?;
    let event = match full_name {
        SAGA_STARTED => ProvisioningEvent::SagaStarted(SagaStarted {
            saga_id: f.uuid("saga_id")?,
            saga_kind: f.string("saga_kind")?,
            trigger_event_id: f.uuid("trigger_event_id")?,
            trigger_sequence: f.long("trigger_sequence")?,
            product: product_from(&mut f)?,
        }),
        STEP_COMPLETED => ProvisioningEvent::StepCompleted(StepCompleted {
            saga_id: f.uuid("saga_id")?,
            step: f.int("step")?,
            step_name: f.string("step_name")?,
            detail: f.string_map("detail")?,
        }),
        STEP_FAILED => ProvisioningEvent::StepFailed(StepFailed {
            saga_id: f.uuid("saga_id")?,
            step: f.int("step")?,
            step_name: f.string("step_name")?,
            attempt: f.int("attempt")?,
            reason: f.string("reason")?,
            retryable: f.boolean("retryable")?,
        }),
        COMPENSATION_COMPLETED => ProvisioningEvent::CompensationCompleted(CompensationCompleted {
            saga_id: f.uuid("saga_id")?,
            step: f.int("step")?,
            step_name: f.string("step_name")?,
        }),
        SAGA_COMPLETED => ProvisioningEvent::SagaCompleted(SagaCompleted {
            saga_id: f.uuid("saga_id")?,
            saga_kind: f.string("saga_kind")?,
            trigger_sequence: f.long("trigger_sequence")?,
            product: product_from(&mut f)?,
            outcome: outcome_from(f.record("outcome")?)?,
        }),
        SAGA_FAILED => ProvisioningEvent::SagaFailed(SagaFailed {
            saga_id: f.uuid("saga_id")?,
            saga_kind: f.string("saga_kind")?,
            trigger_sequence: f.long("trigger_sequence")?,
            product: product_from(&mut f)?,
            reason: f.string("reason")?,
            compensated: f.boolean("compensated")?,
        }),
        TENANT_STATE => ProvisioningEvent::TenantState(Box::new(tenant_state_from(&mut f)?)),
        other => {
            return Err(DecodeError::WrongKind(format!(
                "{other} is not a provisioning event"
            )));
        }
    };
    Ok(ProvisioningRecord { envelope, event })
}

/// Avro symbol of a status or state (its snake-case name in upper case), as
/// a string that resolving against the writer schema turns into the enum.
fn symbol(name: &str) -> Value {
    string(&name.to_ascii_uppercase())
}

fn region_to(region: Option<Region>) -> Value {
    opt(region.map(Region::as_str))
}

/// The optional region in field `name`; an error names `path` (the Avro
/// field path, e.g. `outcome.region`).
fn region_from(f: &mut Fields, name: &str, path: &str) -> Result<Option<Region>, DecodeError> {
    f.opt_string(name)?
        .map(|r| parse(&r, path, |s| Region::parse(s, path)))
        .transpose()
}

fn tenant_state_to(e: &TenantState) -> Vec<(String, Value)> {
    let products = e
        .products
        .iter()
        .map(|(key, p)| {
            Value::Record(vec![
                field("product", string(key.as_str())),
                field("state", symbol(p.state.as_str())),
                field(
                    "licence",
                    p.licence.map_or(Value::Null, |l| {
                        Value::Record(vec![
                            field("seats", Value::Int(l.seats)),
                            field("edition", edition_symbol(l.edition)),
                        ])
                    }),
                ),
                field("shard", opt(p.shard.as_deref())),
                field("database", opt(p.database.as_deref())),
                field(
                    "installed_apps",
                    strings(p.installed_apps.iter().map(AppKey::as_str)),
                ),
                field("failure", opt(p.failure.as_deref())),
            ])
        })
        .collect();
    let rejections = e
        .rejections
        .iter()
        .map(|r| {
            Value::Record(vec![
                field("sequence", Value::Long(r.sequence)),
                field("kind", string(&r.kind)),
                field("reason", string(&r.reason)),
            ])
        })
        .collect();
    vec![
        field("commerce_sequence", Value::Long(e.commerce_sequence)),
        field("status", symbol(e.status.as_str())),
        field("site", opt(e.site.as_deref())),
        field("site_host", opt(e.site_host.as_deref())),
        field("region", region_to(e.region)),
        field("region_pinned", Value::Boolean(e.region_pinned)),
        field("moving_to", region_to(e.moving_to)),
        field("products", Value::Array(products)),
        field("groups", strings(e.groups.iter().map(String::as_str))),
        field("last_failure", opt(e.last_failure.as_deref())),
        field("rejections", Value::Array(rejections)),
        field(
            "parked",
            e.parked.as_ref().map_or(Value::Null, |p| {
                Value::Record(vec![
                    field("kind", string(&p.kind)),
                    field("reason", string(&p.reason)),
                    field("waiting", Value::Long(p.waiting)),
                    field("last_waiting", Value::Long(p.last_waiting)),
                ])
            }),
        ),
        field("pending_saga", opt(e.pending_saga.as_deref())),
    ]
}

fn tenant_status_from(symbol: &str) -> TenantStatus {
    match symbol {
        "PROVISIONING" => TenantStatus::Provisioning,
        "ACTIVE" => TenantStatus::Active,
        "FAILED" => TenantStatus::Failed,
        "DESTROYED" => TenantStatus::Destroyed,
        // PENDING, and what a newer writer added (resolved to the default).
        _ => TenantStatus::Pending,
    }
}

fn product_state_from(symbol: &str) -> ProductState {
    match symbol {
        "ACTIVE" => ProductState::Active,
        "SUSPENDED" => ProductState::Suspended,
        "DEACTIVATED" => ProductState::Deactivated,
        "FAILED" => ProductState::Failed,
        // PROVISIONING, and what a newer writer added (resolved to the default).
        _ => ProductState::Provisioning,
    }
}

fn product_from_value(value: Value) -> Result<(ProductKey, ProductContext), DecodeError> {
    let mut f = Fields::new(value, "products")?;
    let key = parse(&f.string("product")?, "products.product", ProductKey::parse)?;
    let licence = match f.opt_record("licence")? {
        Some(mut l) => Some(Licence {
            seats: l.int("seats")?,
            edition: edition_from(&l.enum_symbol("edition")?)?,
        }),
        None => None,
    };
    let product = ProductContext {
        state: product_state_from(&f.enum_symbol("state")?),
        licence,
        shard: f.opt_string("shard")?,
        database: f.opt_string("database")?,
        installed_apps: parse_all(
            f.strings("installed_apps")?,
            "products.installed_apps",
            AppKey::parse,
        )?,
        failure: f.opt_string("failure")?,
    };
    Ok((key, product))
}

fn tenant_state_from(f: &mut Fields) -> Result<TenantState, DecodeError> {
    let products = f
        .records("products")?
        .into_iter()
        .map(product_from_value)
        .collect::<Result<_, _>>()?;
    let rejections = f
        .records("rejections")?
        .into_iter()
        .map(|value| {
            let mut r = Fields::new(value, "rejections")?;
            Ok(Rejection {
                sequence: r.long("sequence")?,
                kind: r.string("kind")?,
                reason: r.string("reason")?,
            })
        })
        .collect::<Result<_, DecodeError>>()?;
    let parked = match f.opt_record("parked")? {
        Some(mut p) => Some(Parking {
            kind: p.string("kind")?,
            reason: p.string("reason")?,
            waiting: p.long("waiting")?,
            last_waiting: p.long("last_waiting")?,
        }),
        None => None,
    };
    Ok(TenantState {
        commerce_sequence: f.long("commerce_sequence")?,
        status: tenant_status_from(&f.enum_symbol("status")?),
        site: f.opt_string("site")?,
        site_host: f.opt_string("site_host")?,
        region: region_from(f, "region", "region")?,
        region_pinned: f.boolean("region_pinned")?,
        moving_to: region_from(f, "moving_to", "moving_to")?,
        products,
        groups: f.strings("groups")?,
        last_failure: f.opt_string("last_failure")?,
        rejections,
        parked,
        pending_saga: f.opt_string("pending_saga")?,
    })
}
