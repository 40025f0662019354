//! Provisioning records ⇄ Avro values (`tenantry.provisioning.*`).

use super::DecodeError;
use super::value::{
    Fields, envelope_from, envelope_to, field, opt, parse, parse_all, string, strings,
};
use crate::events::{
    CompensationCompleted, ProvisionedOutcome, ProvisioningEvent, ProvisioningRecord,
    SagaCompleted, SagaFailed, SagaStarted, StepCompleted, StepFailed,
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

/// Record full name of the event's schema: its kind on the wire.
pub(crate) fn full_name(event: &ProvisioningEvent) -> &'static str {
    match event {
        ProvisioningEvent::SagaStarted(_) => SAGA_STARTED,
        ProvisioningEvent::StepCompleted(_) => STEP_COMPLETED,
        ProvisioningEvent::StepFailed(_) => STEP_FAILED,
        ProvisioningEvent::CompensationCompleted(_) => COMPENSATION_COMPLETED,
        ProvisioningEvent::SagaCompleted(_) => SAGA_COMPLETED,
        ProvisioningEvent::SagaFailed(_) => SAGA_FAILED,
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
        region: match f.opt_string("region")? {
            Some(r) => Some(parse(&r, "outcome.region", |s| {
                Region::parse(s, "outcome.region")
            })?),
            None => None,
        },
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
        other => {
            return Err(DecodeError::WrongKind(format!(
                "{other} is not a provisioning event"
            )));
        }
    };
    Ok(ProvisioningRecord { envelope, event })
}
