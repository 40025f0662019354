//! Comparing a stored context with a rebuilt one: [`compare`] decides what a
//! replay does with a tenant (under a [`Missing`] policy), [`field_changes`]
//! says which fields differ.
//!
//! Field differences come from an RFC 6902 JSON Patch (`json_patch::diff`)
//! from the stored context's JSON to the rebuilt one's: each operation's JSON
//! Pointer becomes a dotted field name (`products.jira.state`), with the
//! value on each side (`None`: absent on that side).

use serde::Serialize;
use serde_json::Value;
use std::fmt;
use tenantry_sagas::TenantContext;
use tenantry_schemas::TenantId;

/// What a replay does with a stored context the topic has no tenant state
/// of. A destroyed tenant keeps its last state (`destroyed`) in the topic,
/// so such a context almost always means the topic lost records
/// (retention, a wrong `--topic-suffix`, an emptied topic), not a removed
/// tenant: the default keeps it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Missing {
    /// Leave it as it is and report it ([`MissingContext`]).
    #[default]
    Keep,
    /// Delete it with compare-and-set ([`Difference::Removed`]) and publish
    /// a tombstone.
    Delete,
}

/// A stored context the topic has no tenant state of, kept ([`Missing::Keep`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingContext {
    /// Whose context.
    pub tenant_id: TenantId,
    /// Its stored revision, unchanged.
    pub revision: i64,
}

/// One field whose value differs between the stored and the rebuilt
/// context. JSON: `{"field": "status", "stored": "active", "rebuilt":
/// "suspended"}`; an absent side is `null`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    /// Dotted path into the context's JSON (`status`,
    /// `products.jira.seats`, `regions.0`).
    pub field: String,
    /// The stored value; `None`: the stored context has no such field.
    pub stored: Option<Value>,
    /// The rebuilt value; `None`: the rebuilt context has no such field.
    pub rebuilt: Option<Value>,
}

impl fmt::Display for FieldChange {
    /// `field: stored → rebuilt`, each value as compact JSON, `(absent)`
    /// for a missing side.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |value: &Option<Value>| {
            value
                .as_ref()
                .map_or_else(|| "(absent)".to_owned(), Value::to_string)
        };
        write!(
            f,
            "{}: {} → {}",
            self.field,
            show(&self.stored),
            show(&self.rebuilt)
        )
    }
}

/// How a tenant's stored context differs from its rebuilt one. JSON: the
/// variant name as `"change"` beside its fields, e.g. `{"change":
/// "changed", "revision": 3, "fields": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Difference {
    /// Rebuilt, not stored: written at revision 1.
    Added {
        /// The rebuilt context.
        context: Box<TenantContext>,
    },
    /// Stored (at `revision`), not rebuilt: the topic has no tenant state
    /// of the tenant, and [`Missing::Delete`] was asked for. Deleted, and a
    /// tombstone published.
    Removed {
        /// The stored revision.
        revision: i64,
        /// The stored context.
        context: Box<TenantContext>,
    },
    /// Both, different: the rebuilt context replaces the stored one at
    /// `revision + 1`.
    Changed {
        /// The stored revision.
        revision: i64,
        /// The fields that differ, in JSON Patch order.
        fields: Vec<FieldChange>,
    },
}

/// A tenant and how its context differs. JSON: `{"tenant_id": "t1",
/// "change": …}` with [`Difference`]'s fields beside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContextDiff {
    /// Whose context.
    pub tenant_id: TenantId,
    /// How it differs.
    #[serde(flatten)]
    pub difference: Difference,
}

/// What a replay makes of one tenant, stored and rebuilt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Neither side has the tenant.
    Absent,
    /// The store has the rebuilt context already.
    Same,
    /// The store holds a newer tenant state than the rebuild (a higher
    /// provisioning sequence): a projector applied a record written after
    /// the replay read to the end. Kept.
    NewerInStore,
    /// Stored (at `revision`), not rebuilt, under [`Missing::Keep`]: left
    /// as it is and reported.
    Missing {
        /// The stored revision.
        revision: i64,
    },
    /// Write (or delete) to make the store equal the rebuild.
    Differs(Difference),
}

/// Compares `stored` (with its revision) and `rebuilt`; a stored context
/// not rebuilt is [`Verdict::Missing`] unless `missing` is
/// [`Missing::Delete`].
pub(crate) fn compare(
    stored: Option<(&TenantContext, i64)>,
    rebuilt: Option<&TenantContext>,
    missing: Missing,
) -> Verdict {
    match (stored, rebuilt) {
        (None, None) => Verdict::Absent,
        (None, Some(rebuilt)) => Verdict::Differs(Difference::Added {
            context: Box::new(rebuilt.clone()),
        }),
        (Some((_, revision)), None) if missing == Missing::Keep => Verdict::Missing { revision },
        (Some((stored, revision)), None) => Verdict::Differs(Difference::Removed {
            revision,
            context: Box::new(stored.clone()),
        }),
        (Some((stored, _)), Some(rebuilt)) if stored == rebuilt => Verdict::Same,
        (Some((stored, _)), Some(rebuilt))
            if stored.version.provisioning_sequence > rebuilt.version.provisioning_sequence =>
        {
            Verdict::NewerInStore
        }
        (Some((stored, revision)), Some(rebuilt)) => Verdict::Differs(Difference::Changed {
            revision,
            fields: field_changes(stored, rebuilt),
        }),
    }
}

/// The fields that differ from `stored` to `rebuilt`, as JSON.
pub fn field_changes(stored: &TenantContext, rebuilt: &TenantContext) -> Vec<FieldChange> {
    let stored = serde_json::to_value(stored).expect("a context encodes as JSON");
    let rebuilt = serde_json::to_value(rebuilt).expect("a context encodes as JSON");
    json_patch::diff(&stored, &rebuilt)
        .iter()
        .filter_map(|operation| {
            use json_patch::PatchOperation::{Add, Remove, Replace};
            let path = match operation {
                Add(op) => &op.path,
                Remove(op) => &op.path,
                Replace(op) => &op.path,
                // `diff` writes only add, remove and replace.
                _ => return None,
            };
            Some(FieldChange {
                field: dotted(path.as_str()),
                stored: stored.pointer(path.as_str()).cloned(),
                rebuilt: rebuilt.pointer(path.as_str()).cloned(),
            })
        })
        .collect()
}

/// `/products/jira~1x/state` → `products.jira/x.state` (RFC 6901 unescaped).
fn dotted(pointer: &str) -> String {
    pointer
        .split('/')
        .skip(1)
        .map(|token| token.replace("~1", "/").replace("~0", "~"))
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests;
