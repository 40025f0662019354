use super::*;

fn names(family: Family) -> Vec<String> {
    Catalog::current()
        .events()
        .filter(|e| e.family() == family)
        .filter_map(|e| e.full_name().rsplit('.').next().map(str::to_owned))
        .collect()
}

#[test]
fn current_catalog_has_all_fifteen_events() {
    assert_eq!(
        names(Family::Commerce),
        [
            "LicenceUpdated",
            "ProductActivated",
            "ProductDeactivated",
            "ProductSuspended",
            "ProductUnsuspended",
            "ResidencyPinned",
            "TenantCreated",
            "TenantDestroyed",
        ]
    );
    assert_eq!(
        names(Family::Provisioning),
        [
            "CompensationCompleted",
            "SagaCompleted",
            "SagaFailed",
            "SagaStarted",
            "StepCompleted",
            "StepFailed",
            "TenantState",
        ]
    );
}

#[test]
fn every_event_schema_is_self_contained() {
    for event in Catalog::current().events() {
        // Parsed alone, with no other schema known: no dangling reference.
        let alone =
            Schema::parse_str(event.json()).unwrap_or_else(|e| panic!("{}: {e}", event.file()));
        assert_eq!(alone.canonical_form(), event.schema().canonical_form());
        assert!(
            event.json().contains("\"name\":\"Envelope\""),
            "{}",
            event.file()
        );
    }
}

#[test]
fn shared_types_are_inlined_once_at_first_use() {
    let catalog = Catalog::current();
    let activated = catalog.get("tenantry.commerce.ProductActivated").unwrap();
    assert_eq!(activated.json().matches("\"symbols\"").count(), 1);
    assert!(activated.json().contains("\"default\":\"UNKNOWN\""));
    let completed = catalog.get("tenantry.provisioning.SagaCompleted").unwrap();
    assert!(completed.json().contains("\"name\":\"ProvisionedOutcome\""));
    assert_eq!(
        activated.subject("commerce.lifecycle.v1"),
        "commerce.lifecycle.v1-tenantry.commerce.ProductActivated"
    );
}

#[test]
fn a_bad_file_is_named_in_the_error() {
    let envelope = AVSC_FILES[0];
    let dangling = r#"{"type":"record","name":"X","namespace":"tenantry.commerce",
        "fields":[{"name":"envelope","type":"tenantry.Envelope"},{"name":"e","type":"tenantry.Nope"}]}"#;
    let err = Catalog::compose([envelope, ("x.avsc", dangling)]).unwrap_err();
    assert_eq!(err.file, "x.avsc");
    assert!(err.reason.contains("tenantry.Nope"), "{err}");

    let err = Catalog::compose([envelope, ("copy.avsc", envelope.1)]).unwrap_err();
    assert!(
        err.reason.contains("already defined in envelope.avsc"),
        "{err}"
    );

    let no_ns = r#"{"type":"enum","name":"E","symbols":["A"]}"#;
    assert!(Catalog::compose([("e.avsc", no_ns)]).is_err());
}

#[test]
fn registry_json_keeps_docs_and_enum_default() {
    let catalog = Catalog::current();
    let activated = catalog.get("tenantry.commerce.ProductActivated").unwrap();
    let text = catalog.registry_json(activated.schema());
    assert_eq!(text, activated.json());
    assert!(text.contains("\"doc\":\"Licensed seats"));

    let adhoc = Schema::parse_str(
        r#"{"type":"enum","name":"E","namespace":"x","symbols":["A","B"],"default":"A"}"#,
    )
    .unwrap();
    let text = catalog.registry_json(&adhoc);
    assert!(text.contains("\"default\":\"A\""), "{text}");
}

#[test]
fn every_current_schema_is_compatible_with_itself() {
    for event in Catalog::current().events() {
        check_compatible(event.schema(), event.schema())
            .unwrap_or_else(|e| panic!("{}: {e}", event.file()));
    }
}
