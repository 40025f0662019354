//! Commerce records ⇄ Avro values (`tenantry.commerce.*`).

use super::DecodeError;
use super::value::{
    Fields, envelope_from, envelope_to, field, opt, parse, parse_all, string, strings,
};
use crate::events::{
    CommerceEvent, CommerceRecord, Edition, LicenceUpdated, ProductActivated, ProductDeactivated,
    ProductSuspended, ProductUnsuspended, ResidencyPinned, TenantCreated, TenantDestroyed,
};
use crate::ids::{AppKey, CountryCode, ProductKey, Region, SiteName};
use crate::kms_key::KmsKeyRef;
use apache_avro::types::Value;

pub(crate) const TENANT_CREATED: &str = "tenantry.commerce.TenantCreated";
pub(crate) const TENANT_DESTROYED: &str = "tenantry.commerce.TenantDestroyed";
pub(crate) const PRODUCT_ACTIVATED: &str = "tenantry.commerce.ProductActivated";
pub(crate) const PRODUCT_DEACTIVATED: &str = "tenantry.commerce.ProductDeactivated";
pub(crate) const PRODUCT_SUSPENDED: &str = "tenantry.commerce.ProductSuspended";
pub(crate) const PRODUCT_UNSUSPENDED: &str = "tenantry.commerce.ProductUnsuspended";
pub(crate) const LICENCE_UPDATED: &str = "tenantry.commerce.LicenceUpdated";
pub(crate) const RESIDENCY_PINNED: &str = "tenantry.commerce.ResidencyPinned";

/// Record full name of the event's schema: its kind on the wire.
pub(crate) fn full_name(event: &CommerceEvent) -> &'static str {
    match event {
        CommerceEvent::TenantCreated(_) => TENANT_CREATED,
        CommerceEvent::TenantDestroyed(_) => TENANT_DESTROYED,
        CommerceEvent::ProductActivated(_) => PRODUCT_ACTIVATED,
        CommerceEvent::ProductDeactivated(_) => PRODUCT_DEACTIVATED,
        CommerceEvent::ProductSuspended(_) => PRODUCT_SUSPENDED,
        CommerceEvent::ProductUnsuspended(_) => PRODUCT_UNSUSPENDED,
        CommerceEvent::LicenceUpdated(_) => LICENCE_UPDATED,
        CommerceEvent::ResidencyPinned(_) => RESIDENCY_PINNED,
    }
}

/// `tenantry.Edition` symbol (`ENTERPRISE`).
pub(crate) fn edition_symbol(edition: Edition) -> Value {
    string(&edition.as_str().to_ascii_uppercase())
}

/// Rust edition from a symbol already resolved to this crate's enum, where a
/// symbol unknown to the reader became the default `UNKNOWN` (case A1).
pub(crate) fn edition_from(symbol: &str) -> Result<Edition, DecodeError> {
    match symbol {
        "UNKNOWN" => Ok(Edition::Unknown),
        other => Edition::parse(other).map_err(|_| {
            DecodeError::Malformed(format!(
                "edition: symbol {other:?} is not in tenantry.Edition"
            ))
        }),
    }
}

/// The record as an unresolved Avro value (optional fields as bare `null` or
/// string); resolve it against a writer schema before encoding.
pub(crate) fn to_value(record: &CommerceRecord) -> Value {
    let mut fields = vec![field("envelope", envelope_to(&record.envelope))];
    let product = |p: &ProductKey| field("product", string(p.as_str()));
    match &record.event {
        CommerceEvent::TenantCreated(e) => fields.extend([
            field("site", string(e.site.as_str())),
            field("owner_email", string(&e.owner_email)),
            field("country", string(e.country.as_str())),
            field("residency_pin", opt(e.residency_pin.map(Region::as_str))),
            field("kms_key", opt(e.kms_key.as_ref().map(KmsKeyRef::as_str))),
        ]),
        CommerceEvent::TenantDestroyed(e) => fields.push(field("reason", opt(e.reason.as_deref()))),
        CommerceEvent::ProductActivated(e) => fields.extend([
            product(&e.product),
            field("edition", edition_symbol(e.edition)),
            field("seats", Value::Int(e.seats)),
            field("apps", strings(e.apps.iter().map(AppKey::as_str))),
        ]),
        CommerceEvent::ProductDeactivated(e) => fields.push(product(&e.product)),
        CommerceEvent::ProductSuspended(e) => fields.extend([
            product(&e.product),
            field("reason", opt(e.reason.as_deref())),
        ]),
        CommerceEvent::ProductUnsuspended(e) => fields.push(product(&e.product)),
        CommerceEvent::LicenceUpdated(e) => fields.extend([
            product(&e.product),
            field("edition", edition_symbol(e.edition)),
            field("seats", Value::Int(e.seats)),
        ]),
        CommerceEvent::ResidencyPinned(e) => fields.extend([
            field("residency_pin", string(e.residency_pin.as_str())),
            field("reason", opt(e.reason.as_deref())),
        ]),
    }
    Value::Record(fields)
}

fn product(f: &mut Fields) -> Result<ProductKey, DecodeError> {
    parse(&f.string("product")?, "product", ProductKey::parse)
}

/// The record from a value resolved to the reader schema of `full_name`.
pub(crate) fn from_value(full_name: &str, value: Value) -> Result<CommerceRecord, DecodeError> {
    let mut f = Fields::new(value, full_name)?;
    let envelope = envelope_from(f.record("envelope")?)?;
    let event = match full_name {
        TENANT_CREATED => CommerceEvent::TenantCreated(TenantCreated {
            site: parse(&f.string("site")?, "site", SiteName::parse)?,
            owner_email: f.string("owner_email")?,
            country: parse(&f.string("country")?, "country", CountryCode::parse)?,
            residency_pin: match f.opt_string("residency_pin")? {
                Some(r) => Some(parse(&r, "residency_pin", |s| {
                    Region::parse(s, "residency_pin")
                })?),
                None => None,
            },
            kms_key: match f.opt_string("kms_key")? {
                Some(k) => Some(parse(&k, "kms_key", KmsKeyRef::parse)?),
                None => None,
            },
        }),
        TENANT_DESTROYED => CommerceEvent::TenantDestroyed(TenantDestroyed {
            reason: f.opt_string("reason")?,
        }),
        PRODUCT_ACTIVATED => CommerceEvent::ProductActivated(ProductActivated {
            product: product(&mut f)?,
            edition: edition_from(&f.enum_symbol("edition")?)?,
            seats: f.int("seats")?,
            apps: parse_all(f.strings("apps")?, "apps", AppKey::parse)?,
        }),
        PRODUCT_DEACTIVATED => CommerceEvent::ProductDeactivated(ProductDeactivated {
            product: product(&mut f)?,
        }),
        PRODUCT_SUSPENDED => CommerceEvent::ProductSuspended(ProductSuspended {
            product: product(&mut f)?,
            reason: f.opt_string("reason")?,
        }),
        PRODUCT_UNSUSPENDED => CommerceEvent::ProductUnsuspended(ProductUnsuspended {
            product: product(&mut f)?,
        }),
        LICENCE_UPDATED => CommerceEvent::LicenceUpdated(LicenceUpdated {
            product: product(&mut f)?,
            edition: edition_from(&f.enum_symbol("edition")?)?,
            seats: f.int("seats")?,
        }),
        RESIDENCY_PINNED => CommerceEvent::ResidencyPinned(ResidencyPinned {
            residency_pin: parse(&f.string("residency_pin")?, "residency_pin", |s| {
                Region::parse(s, "residency_pin")
            })?,
            reason: f.opt_string("reason")?,
        }),
        other => {
            return Err(DecodeError::WrongKind(format!(
                "{other} is not a commerce event"
            )));
        }
    };
    Ok(CommerceRecord { envelope, event })
}
