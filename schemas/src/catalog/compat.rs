//! Full (backward and forward) compatibility of two versions of a schema.

use apache_avro::Schema;
use apache_avro::schema::UnionSchema;
use apache_avro::schema_compatibility::SchemaCompatibility;
use std::collections::HashMap;

/// A change between two versions of a schema that breaks readers or writers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct IncompatibleChange {
    /// Which direction or rule failed, and apache-avro's reason.
    pub reason: String,
}

/// Checks that two versions of one schema are mutually compatible, the
/// Confluent `FULL` level: records written with `previous` decode with
/// `current` (backward) and records written with `current` decode with
/// `previous` (forward), by the rules of the Avro specification, "Schema
/// Resolution".
///
/// Two additions to apache-avro's `SchemaCompatibility::can_read`:
/// - a writer enum symbol unknown to the reader is accepted when the reader
///   enum has a `default` (the specification resolves it to the default;
///   apache-avro 0.21's checker ignores the default);
/// - house rule from case A1: every enum in `current` must have a `default`,
///   so that a symbol added later resolves instead of failing every reader.
///
/// # Errors
/// [`IncompatibleChange`] naming the rule or direction that failed.
pub fn check_compatible(previous: &Schema, current: &Schema) -> Result<(), IncompatibleChange> {
    if let Some(name) = enum_without_default(current) {
        return Err(IncompatibleChange {
            reason: format!(
                "enum {name} has no \"default\": a symbol added by a newer writer would fail every reader (case A1)"
            ),
        });
    }
    can_read(previous, current).map_err(|e| IncompatibleChange {
        reason: format!("backward: records written with the previous version do not decode with the current one: {e}"),
    })?;
    can_read(current, previous).map_err(|e| IncompatibleChange {
        reason: format!("forward: records written with the current version do not decode with the previous one: {e}"),
    })
}

fn can_read(writer: &Schema, reader: &Schema) -> Result<(), String> {
    let mut defaulted = HashMap::new();
    reader_enums_with_default(reader, &mut defaulted);
    let writer = drop_symbols_resolved_by_default(writer, &defaulted).map_err(|e| e.to_string())?;
    SchemaCompatibility::can_read(&writer, reader).map_err(|e| e.to_string())
}

fn enum_without_default(schema: &Schema) -> Option<String> {
    match schema {
        Schema::Enum(e) if e.default.is_none() => Some(e.name.fullname(None)),
        Schema::Record(r) => r
            .fields
            .iter()
            .find_map(|f| enum_without_default(&f.schema)),
        Schema::Array(a) => enum_without_default(&a.items),
        Schema::Map(m) => enum_without_default(&m.types),
        Schema::Union(u) => u.variants().iter().find_map(enum_without_default),
        _ => None,
    }
}

/// Reader enums that have a default: full name → symbols.
fn reader_enums_with_default(schema: &Schema, out: &mut HashMap<String, Vec<String>>) {
    match schema {
        Schema::Enum(e) if e.default.is_some() => {
            out.insert(e.name.fullname(None), e.symbols.clone());
        }
        Schema::Record(r) => {
            for f in &r.fields {
                reader_enums_with_default(&f.schema, out);
            }
        }
        Schema::Array(a) => reader_enums_with_default(&a.items, out),
        Schema::Map(m) => reader_enums_with_default(&m.types, out),
        Schema::Union(u) => {
            for v in u.variants() {
                reader_enums_with_default(v, out);
            }
        }
        _ => {}
    }
}

/// The writer schema as the checker should see it: symbols that the reader
/// resolves to its enum default are removed.
fn drop_symbols_resolved_by_default(
    writer: &Schema,
    defaulted: &HashMap<String, Vec<String>>,
) -> Result<Schema, apache_avro::Error> {
    let mut out = writer.clone();
    match &mut out {
        Schema::Enum(e) => {
            if let Some(reader_symbols) = defaulted.get(&e.name.fullname(None)) {
                e.symbols.retain(|s| reader_symbols.contains(s));
            }
        }
        Schema::Record(r) => {
            for f in &mut r.fields {
                f.schema = drop_symbols_resolved_by_default(&f.schema, defaulted)?;
            }
        }
        Schema::Array(a) => *a.items = drop_symbols_resolved_by_default(&a.items, defaulted)?,
        Schema::Map(m) => *m.types = drop_symbols_resolved_by_default(&m.types, defaulted)?,
        Schema::Union(u) => {
            let variants = u
                .variants()
                .iter()
                .map(|v| drop_symbols_resolved_by_default(v, defaulted))
                .collect::<Result<Vec<_>, _>>()?;
            *u = UnionSchema::new(variants)?;
        }
        _ => {}
    }
    Ok(out)
}
