//! Mapping between `apache_avro::types::Value` and the Rust types: helpers
//! shared by the commerce and provisioning mappings, and the envelope.
//!
//! Decoding reads a value already resolved to this crate's reader schema, so
//! a shape mismatch here means a defect or a hostile writer schema and is
//! reported as [`DecodeError::Malformed`]; a value of the right shape that
//! breaks a rule is [`DecodeError::Invalid`] naming the field.

use super::DecodeError;
use crate::events::Envelope;
use crate::ids::{TenantId, ValidationError};
use apache_avro::types::Value;
use std::collections::BTreeMap;
use uuid::Uuid;

/// The fields of one decoded record, taken out by name.
pub(crate) struct Fields {
    record: String,
    fields: Vec<(String, Value)>,
}

fn shape(record: &str, field: &str, expected: &str, got: &Value) -> DecodeError {
    let mut got = format!("{got:?}");
    if got.len() > 80 {
        got.truncate(80);
        got.push('…');
    }
    DecodeError::Malformed(format!("{record}.{field}: expected {expected}, got {got}"))
}

fn unwrap_union(value: Value) -> Value {
    match value {
        Value::Union(_, inner) => *inner,
        other => other,
    }
}

impl Fields {
    pub(crate) fn new(value: Value, record: &str) -> Result<Self, DecodeError> {
        match unwrap_union(value) {
            Value::Record(fields) => Ok(Self {
                record: record.to_owned(),
                fields,
            }),
            other => Err(shape(record, "", "a record", &other)),
        }
    }

    fn take(&mut self, name: &str) -> Result<Value, DecodeError> {
        let at = self
            .fields
            .iter()
            .position(|(n, _)| n == name)
            .ok_or_else(|| DecodeError::Malformed(format!("{}: no field {name}", self.record)))?;
        Ok(unwrap_union(self.fields.swap_remove(at).1))
    }

    pub(crate) fn string(&mut self, name: &str) -> Result<String, DecodeError> {
        match self.take(name)? {
            Value::String(s) => Ok(s),
            other => Err(shape(&self.record, name, "a string", &other)),
        }
    }

    pub(crate) fn opt_string(&mut self, name: &str) -> Result<Option<String>, DecodeError> {
        match self.take(name)? {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            other => Err(shape(&self.record, name, "null or a string", &other)),
        }
    }

    pub(crate) fn long(&mut self, name: &str) -> Result<i64, DecodeError> {
        match self.take(name)? {
            Value::Long(n) => Ok(n),
            Value::Int(n) => Ok(n.into()),
            other => Err(shape(&self.record, name, "a long", &other)),
        }
    }

    pub(crate) fn int(&mut self, name: &str) -> Result<i32, DecodeError> {
        match self.take(name)? {
            Value::Int(n) => Ok(n),
            other => Err(shape(&self.record, name, "an int", &other)),
        }
    }

    pub(crate) fn boolean(&mut self, name: &str) -> Result<bool, DecodeError> {
        match self.take(name)? {
            Value::Boolean(b) => Ok(b),
            other => Err(shape(&self.record, name, "a boolean", &other)),
        }
    }

    /// A `string` with logicalType `uuid` (resolution already parsed it).
    pub(crate) fn uuid(&mut self, name: &str) -> Result<Uuid, DecodeError> {
        match self.take(name)? {
            Value::Uuid(u) => Ok(u),
            other => Err(shape(&self.record, name, "a uuid", &other)),
        }
    }

    /// A `long` with logicalType `timestamp-millis` (Unix epoch milliseconds).
    pub(crate) fn timestamp_millis(&mut self, name: &str) -> Result<i64, DecodeError> {
        match self.take(name)? {
            Value::TimestampMillis(ms) | Value::Long(ms) => Ok(ms),
            other => Err(shape(&self.record, name, "a timestamp-millis", &other)),
        }
    }

    pub(crate) fn enum_symbol(&mut self, name: &str) -> Result<String, DecodeError> {
        match self.take(name)? {
            Value::Enum(_, symbol) | Value::String(symbol) => Ok(symbol),
            other => Err(shape(&self.record, name, "an enum symbol", &other)),
        }
    }

    pub(crate) fn strings(&mut self, name: &str) -> Result<Vec<String>, DecodeError> {
        match self.take(name)? {
            Value::Array(items) => items
                .into_iter()
                .map(|item| match unwrap_union(item) {
                    Value::String(s) => Ok(s),
                    other => Err(shape(&self.record, name, "strings", &other)),
                })
                .collect(),
            other => Err(shape(&self.record, name, "an array", &other)),
        }
    }

    pub(crate) fn string_map(
        &mut self,
        name: &str,
    ) -> Result<BTreeMap<String, String>, DecodeError> {
        match self.take(name)? {
            Value::Map(entries) => entries
                .into_iter()
                .map(|(k, v)| match unwrap_union(v) {
                    Value::String(s) => Ok((k, s)),
                    other => Err(shape(&self.record, name, "string values", &other)),
                })
                .collect(),
            other => Err(shape(&self.record, name, "a map", &other)),
        }
    }

    /// An array of records, as values for [`Fields::new`].
    pub(crate) fn records(&mut self, name: &str) -> Result<Vec<Value>, DecodeError> {
        match self.take(name)? {
            Value::Array(items) => Ok(items),
            other => Err(shape(&self.record, name, "an array", &other)),
        }
    }

    /// A union of `null` and a record.
    pub(crate) fn opt_record(&mut self, name: &str) -> Result<Option<Fields>, DecodeError> {
        match self.take(name)? {
            Value::Null => Ok(None),
            value => Fields::new(value, &format!("{}.{name}", self.record)).map(Some),
        }
    }

    pub(crate) fn record(&mut self, name: &str) -> Result<Fields, DecodeError> {
        let value = self.take(name)?;
        Fields::new(value, &format!("{}.{name}", self.record))
    }
}

/// Parses `raw` with an `ids` parse function; the error names `field` (the
/// Avro field path, e.g. `outcome.installed_apps`).
pub(crate) fn parse<T>(
    raw: &str,
    field: &str,
    parse: impl FnOnce(&str) -> Result<T, ValidationError>,
) -> Result<T, DecodeError> {
    parse(raw).map_err(|e| DecodeError::Invalid(ValidationError::new(field, e.reason)))
}

/// [`parse`] for every item of a list.
pub(crate) fn parse_all<T>(
    raw: Vec<String>,
    field: &str,
    parse_one: impl Fn(&str) -> Result<T, ValidationError>,
) -> Result<Vec<T>, DecodeError> {
    raw.iter().map(|s| parse(s, field, &parse_one)).collect()
}

/// `null` or a string, for an optional field (the union branch is chosen when
/// the value is resolved against the schema, so either union order works).
pub(crate) fn opt(value: Option<&str>) -> Value {
    value.map_or(Value::Null, |s| Value::String(s.to_owned()))
}

pub(crate) fn string(value: &str) -> Value {
    Value::String(value.to_owned())
}

pub(crate) fn strings<'a>(values: impl IntoIterator<Item = &'a str>) -> Value {
    Value::Array(values.into_iter().map(string).collect())
}

pub(crate) fn field(name: &str, value: Value) -> (String, Value) {
    (name.to_owned(), value)
}

/// `tenantry.Envelope` from its decoded fields.
pub(crate) fn envelope_from(mut f: Fields) -> Result<Envelope, DecodeError> {
    Ok(Envelope {
        event_id: f.uuid("event_id")?,
        tenant_id: parse(&f.string("tenant_id")?, "tenant_id", TenantId::parse)?,
        sequence: f.long("sequence")?,
        occurred_at_ms: f.timestamp_millis("occurred_at")?,
        source: f.string("source")?,
        correlation_id: f.opt_string("correlation_id")?,
        causation_id: f.opt_string("causation_id")?,
    })
}

/// `tenantry.Envelope` as an Avro record value.
pub(crate) fn envelope_to(e: &Envelope) -> Value {
    Value::Record(vec![
        field("event_id", Value::Uuid(e.event_id)),
        field("tenant_id", string(e.tenant_id.as_str())),
        field("sequence", Value::Long(e.sequence)),
        field("occurred_at", Value::TimestampMillis(e.occurred_at_ms)),
        field("source", string(&e.source)),
        field("correlation_id", opt(e.correlation_id.as_deref())),
        field("causation_id", opt(e.causation_id.as_deref())),
    ])
}
