use super::*;
use tenantry_sagas::{ProductContext, ProductState, TenantStatus};
use tenantry_schemas::ProductKey;

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

/// `t1`'s context at provisioning `sequence`, active, site host `one.test`.
fn context(sequence: i64) -> TenantContext {
    let mut context = TenantContext::empty(tenant("t1"));
    context.state.status = TenantStatus::Active;
    context.state.site_host = Some("one.test".into());
    context.version.provisioning_sequence = sequence;
    context
}

#[test]
fn a_changed_scalar_is_one_field_with_both_values() {
    let stored = context(4);
    let mut rebuilt = context(4);
    rebuilt.state.status = TenantStatus::Failed;
    let changes = field_changes(&stored, &rebuilt);
    assert_eq!(
        changes,
        [FieldChange {
            field: "status".into(),
            stored: Some("active".into()),
            rebuilt: Some("failed".into()),
        }]
    );
    assert_eq!(changes[0].to_string(), r#"status: "active" → "failed""#);
}

#[test]
fn nested_fields_are_dotted_and_an_absent_side_is_none() {
    let stored = context(4);
    let mut rebuilt = context(5);
    rebuilt.state.site_host = None;
    rebuilt.state.products.insert(
        ProductKey::parse("jira").unwrap(),
        ProductContext {
            state: ProductState::Active,
            licence: None,
            shard: None,
            database: None,
            installed_apps: Vec::new(),
            failure: None,
        },
    );
    let changes = field_changes(&stored, &rebuilt);
    let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
    assert!(
        fields.contains(&"version.provisioning_sequence"),
        "{fields:?}"
    );
    assert!(fields.contains(&"products.jira"), "{fields:?}");
    let jira = changes.iter().find(|c| c.field == "products.jira").unwrap();
    assert_eq!(jira.stored, None);
    assert!(jira.rebuilt.is_some());
    assert!(jira.to_string().starts_with("products.jira: (absent) → {"));
    let host = changes.iter().find(|c| c.field == "site_host").unwrap();
    assert_eq!(host.stored, Some("one.test".into()));
    assert_eq!(host.rebuilt, Some(Value::Null));
}

#[test]
fn pointer_escapes_are_undone() {
    assert_eq!(dotted("/a~1b/c~0d/0"), "a/b.c~d.0");
    assert_eq!(dotted(""), "");
}

#[test]
fn compare_decides_per_tenant() {
    let stored = context(4);
    assert_eq!(compare(None, None, Missing::Keep), Verdict::Absent);
    assert_eq!(
        compare(Some((&stored, 7)), Some(&stored), Missing::Keep),
        Verdict::Same
    );
    assert_eq!(
        compare(None, Some(&stored), Missing::Keep),
        Verdict::Differs(Difference::Added {
            context: Box::new(stored.clone())
        })
    );
    assert_eq!(
        compare(Some((&stored, 7)), None, Missing::Delete),
        Verdict::Differs(Difference::Removed {
            revision: 7,
            context: Box::new(stored.clone())
        })
    );
    // The store ahead of the rebuild: a live projector applied a newer record.
    assert_eq!(
        compare(Some((&context(5), 7)), Some(&stored), Missing::Keep),
        Verdict::NewerInStore
    );
    // Same record, tampered content: rebuilt wins, at the stored revision.
    let mut tampered = stored.clone();
    tampered.state.status = TenantStatus::Destroyed;
    let Verdict::Differs(Difference::Changed { revision, fields }) =
        compare(Some((&tampered, 7)), Some(&stored), Missing::Keep)
    else {
        panic!("a tampered context differs");
    };
    assert_eq!(revision, 7);
    assert_eq!(fields.len(), 1);
    assert_eq!(fields[0].field, "status");
}

#[test]
fn a_stored_context_the_topic_lacks_is_only_removed_when_asked() {
    // The topic lost the tenant's records (retention, an empty topic): by
    // default the context is kept and reported, never deleted.
    let stored = context(4);
    assert_eq!(Missing::default(), Missing::Keep);
    assert_eq!(
        compare(Some((&stored, 7)), None, Missing::Keep),
        Verdict::Missing { revision: 7 }
    );
    assert!(matches!(
        compare(Some((&stored, 7)), None, Missing::Delete),
        Verdict::Differs(Difference::Removed { revision: 7, .. })
    ));
    // The policy concerns stored contexts not rebuilt only.
    for (stored, rebuilt) in [(None, Some(&stored)), (Some((&stored, 7)), Some(&stored))] {
        assert_eq!(
            compare(stored, rebuilt, Missing::Keep),
            compare(stored, rebuilt, Missing::Delete)
        );
    }
}

#[test]
fn a_diff_serializes_with_its_kind_beside_the_tenant() {
    let diff = ContextDiff {
        tenant_id: tenant("t1"),
        difference: Difference::Changed {
            revision: 3,
            fields: vec![FieldChange {
                field: "status".into(),
                stored: None,
                rebuilt: Some("active".into()),
            }],
        },
    };
    assert_eq!(
        serde_json::to_value(&diff).unwrap(),
        serde_json::json!({
            "tenant_id": "t1", "change": "changed", "revision": 3,
            "fields": [{"field": "status", "stored": null, "rebuilt": "active"}],
        })
    );
}
