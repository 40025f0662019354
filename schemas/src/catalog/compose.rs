//! JSON-level composition: inline each referenced named type at its first use.
//!
//! Working on the JSON (rather than on parsed `Schema`s) keeps every `doc`,
//! `default` and logical type exactly as written, and makes the output
//! independent of parse order.

use super::{COMMERCE_NAMESPACE, CatalogError, EventSchema, Family, PROVISIONING_NAMESPACE};
use apache_avro::Schema;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// Avro primitive type names (Avro specification, "Primitive Types").
const PRIMITIVES: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

const ENVELOPE: &str = "tenantry.Envelope";

struct Definition {
    file: String,
    json: Value,
}

type Definitions = BTreeMap<String, Definition>;

pub(super) fn compose<N, J>(
    files: impl IntoIterator<Item = (N, J)>,
) -> Result<BTreeMap<String, EventSchema>, CatalogError>
where
    N: AsRef<str>,
    J: AsRef<str>,
{
    let mut defs = Definitions::new();
    for (file, text) in files {
        let file = file.as_ref();
        let json: Value = serde_json::from_str(text.as_ref())
            .map_err(|e| CatalogError::new(file, format!("not JSON: {e}")))?;
        let full = top_level_name(&json).map_err(|r| CatalogError::new(file, r))?;
        let def = Definition {
            file: file.to_owned(),
            json,
        };
        if let Some(previous) = defs.insert(full.clone(), def) {
            return Err(CatalogError::new(
                file,
                format!("defines {full}, already defined in {}", previous.file),
            ));
        }
    }

    let mut events = BTreeMap::new();
    // Every definition is composed and parsed, so a shared file that no event
    // uses yet is still checked.
    for (full, def) in &defs {
        let mut defined = HashSet::new();
        let composed = inline(&def.json, "", &defs, &mut defined, &def.file)?;
        let json = composed.to_string();
        let schema = Schema::parse_str(&json).map_err(|e| {
            CatalogError::new(
                &def.file,
                format!("not a valid Avro schema once composed: {e}"),
            )
        })?;
        if let Some(family) = event_family(full, &def.json) {
            events.insert(
                full.clone(),
                EventSchema {
                    full_name: full.clone(),
                    file: def.file.clone(),
                    family,
                    schema: Arc::new(schema),
                    json,
                },
            );
        }
    }
    Ok(events)
}

/// Full name of a file's top-level named type; namespaces are required so a
/// definition means the same wherever it is inlined.
fn top_level_name(json: &Value) -> Result<String, String> {
    let map = json
        .as_object()
        .ok_or("must hold one named type (a JSON object)")?;
    match map.get("type").and_then(Value::as_str) {
        Some("record" | "enum" | "fixed") => {}
        _ => return Err("top-level type must be a record, enum or fixed".into()),
    }
    let (full, namespace) = name_of(map, "")?;
    if namespace.is_empty() {
        return Err(format!("{full} needs a namespace (tenantry.*)"));
    }
    Ok(full)
}

/// `(full name, namespace)` of a named type, per the Avro specification
/// ("Names"): a dotted name is already full; else `namespace`, else the
/// enclosing namespace.
fn name_of(map: &Map<String, Value>, enclosing: &str) -> Result<(String, String), String> {
    let name = map
        .get("name")
        .and_then(Value::as_str)
        .ok_or("named type without a string \"name\"")?;
    if let Some((ns, _)) = name.rsplit_once('.') {
        return Ok((name.to_owned(), ns.to_owned()));
    }
    let ns = match map.get("namespace") {
        Some(Value::String(ns)) => ns.as_str(),
        Some(Value::Null) | None => enclosing,
        Some(_) => return Err(format!("{name}: \"namespace\" must be a string")),
    };
    let full = if ns.is_empty() {
        name.to_owned()
    } else {
        format!("{ns}.{name}")
    };
    Ok((full, ns.to_owned()))
}

fn qualify(name: &str, ns: &str) -> String {
    if name.contains('.') || ns.is_empty() {
        name.to_owned()
    } else {
        format!("{ns}.{name}")
    }
}

/// Returns `schema` with every reference to a not-yet-defined named type
/// replaced by its definition; later references become full names.
fn inline(
    schema: &Value,
    ns: &str,
    defs: &Definitions,
    defined: &mut HashSet<String>,
    file: &str,
) -> Result<Value, CatalogError> {
    match schema {
        Value::String(name) if PRIMITIVES.contains(&name.as_str()) => Ok(schema.clone()),
        Value::String(name) => {
            let full = qualify(name, ns);
            if defined.contains(&full) {
                Ok(Value::String(full))
            } else if let Some(def) = defs.get(&full) {
                inline(&def.json, ns, defs, defined, &def.file)
            } else {
                Err(CatalogError::new(
                    file,
                    format!(
                        "references unknown type {full} (a shared type is referenced by full name and has its own .avsc file)"
                    ),
                ))
            }
        }
        Value::Array(branches) => branches
            .iter()
            .map(|b| inline(b, ns, defs, defined, file))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Object(map) => {
            let mut out = map.clone();
            match map.get("type").and_then(Value::as_str) {
                Some("record" | "error" | "enum" | "fixed") => {
                    let (full, own_ns) =
                        name_of(map, ns).map_err(|r| CatalogError::new(file, r))?;
                    if !defined.insert(full.clone()) {
                        return Err(CatalogError::new(file, format!("{full} is defined twice")));
                    }
                    if let Some(Value::Array(fields)) = map.get("fields") {
                        let mut composed = Vec::with_capacity(fields.len());
                        for field in fields {
                            let mut field = field.clone();
                            let ty = field.get("type").cloned().ok_or_else(|| {
                                CatalogError::new(file, format!("{full}: field without \"type\""))
                            })?;
                            field["type"] = inline(&ty, &own_ns, defs, defined, file)?;
                            composed.push(field);
                        }
                        out.insert("fields".into(), Value::Array(composed));
                    }
                }
                Some("array") => {
                    if let Some(items) = map.get("items") {
                        out.insert("items".into(), inline(items, ns, defs, defined, file)?);
                    }
                }
                Some("map") => {
                    if let Some(values) = map.get("values") {
                        out.insert("values".into(), inline(values, ns, defs, defined, file)?);
                    }
                }
                _ => {
                    // `{"type": "long", "logicalType": …}` or a nested type object.
                    if let Some(ty) = map.get("type") {
                        out.insert("type".into(), inline(ty, ns, defs, defined, file)?);
                    }
                }
            }
            Ok(Value::Object(out))
        }
        other => Err(CatalogError::new(
            file,
            format!("not an Avro schema: {other}"),
        )),
    }
}

/// An event is a record in the commerce or provisioning namespace whose
/// fields include `envelope: tenantry.Envelope`.
fn event_family(full: &str, json: &Value) -> Option<Family> {
    let (ns, _) = full.rsplit_once('.')?;
    let family = match ns {
        COMMERCE_NAMESPACE => Family::Commerce,
        PROVISIONING_NAMESPACE => Family::Provisioning,
        _ => return None,
    };
    let has_envelope = json.get("fields")?.as_array()?.iter().any(|f| {
        f.get("name").and_then(Value::as_str) == Some("envelope")
            && f.get("type")
                .and_then(Value::as_str)
                .map(|t| qualify(t, ns))
                .as_deref()
                == Some(ENVELOPE)
    });
    has_envelope.then_some(family)
}
