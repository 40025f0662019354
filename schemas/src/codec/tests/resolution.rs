//! Schema resolution (cases A1, A2, A3) and field-level validation.

use super::*;

/// Case A1: a newer writer adds an edition symbol; it decodes to the reader
/// default `UNKNOWN`, never an error.
#[tokio::test]
async fn a1_unknown_enum_symbol_decodes_to_the_default() {
    let v2 = catalog_with("edition.avsc", |json| {
        json["symbols"]
            .as_array_mut()
            .unwrap()
            .push("SUSPENDED_BILLING".into());
    });
    let writer = v2.get(commerce::PRODUCT_ACTIVATED).unwrap().schema();
    let mut value = commerce::to_value(&activated());
    set(
        &mut value,
        &["edition"],
        Some(Value::String("SUSPENDED_BILLING".into())),
    );
    let mut registry = EmbeddedRegistry::new();
    let bytes = write_with(&mut registry, writer, value);
    let codec = Codec::new(Arc::new(registry));
    let record = codec.decode_commerce(&bytes).await.unwrap();
    let CommerceEvent::ProductActivated(e) = record.event else {
        panic!("{record:?}")
    };
    assert_eq!(e.edition, Edition::Unknown);
    assert_eq!(e.seats, 50);
}

/// Case A2: a v1 writer without `residency_pin` decodes with the v2 default;
/// a v3 writer's extra field is skipped.
#[tokio::test]
async fn a2_writer_schema_is_resolved_to_the_reader_schema() {
    let v1 = catalog_with("tenant_created.avsc", |json| {
        json["fields"]
            .as_array_mut()
            .unwrap()
            .retain(|f| f["name"] != "residency_pin");
    });
    let v3 = catalog_with("tenant_created.avsc", |json| {
        json["fields"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!(
                {"name": "region_hint", "type": ["null", "string"], "default": null}
            ));
    });
    let mut registry = EmbeddedRegistry::new();
    let mut old = commerce::to_value(&created(Some(Region::Eu)));
    set(&mut old, &["residency_pin"], None);
    let v1_bytes = write_with(
        &mut registry,
        v1.get(commerce::TENANT_CREATED).unwrap().schema(),
        old,
    );
    let mut new = commerce::to_value(&created(Some(Region::Eu)));
    fields_mut(&mut new).push(("region_hint".into(), Value::String("eu".into())));
    let v3_bytes = write_with(
        &mut registry,
        v3.get(commerce::TENANT_CREATED).unwrap().schema(),
        new,
    );
    let codec = Codec::new(Arc::new(registry));

    assert_eq!(
        codec.decode_commerce(&v1_bytes).await.unwrap(),
        created(None)
    );
    assert_eq!(
        codec.decode_commerce(&v3_bytes).await.unwrap(),
        created(Some(Region::Eu))
    );
}

/// A record written by a build before `kms_key` (the schema kept in
/// `schemas/history/tenant_created.v1.avsc`, whose id the embedded registry
/// still knows) decodes with no key: Tenantry owns the tenant's key.
#[tokio::test]
async fn a2_tenant_created_before_kms_key_decodes_without_one() {
    let previous = Catalog::previous()
        .into_iter()
        .find_map(|catalog| {
            let event = catalog.get(commerce::TENANT_CREATED)?;
            (!event.json().contains("kms_key")).then(|| Arc::clone(event.schema()))
        })
        .expect("the TenantCreated of builds before kms_key");
    let registry = EmbeddedRegistry::new();
    let id = EmbeddedRegistry::derive_id(&previous);
    assert!(registry.schema_by_id(id).await.is_ok(), "known id {id}");
    let mut value = commerce::to_value(&created(Some(Region::Eu)));
    set(&mut value, &["kms_key"], None);
    let bytes = frame(id, &encode_body(&previous, value).unwrap());
    let codec = Codec::new(Arc::new(registry));
    assert_eq!(
        codec.decode_commerce(&bytes).await.unwrap(),
        created(Some(Region::Eu))
    );
}

/// Case A3: a writer with `["string","null"]` unions (null is branch 1, a
/// string branch 0) round-trips like the usual `["null","string"]`.
#[tokio::test]
async fn a3_both_union_orders_round_trip() {
    let swapped = catalog_with("envelope.avsc", |json| {
        for field in json["fields"].as_array_mut().unwrap() {
            if field["type"] == serde_json::json!(["null", "string"]) {
                field["type"] = serde_json::json!(["string", "null"]);
                field.as_object_mut().unwrap().remove("default");
            }
        }
    });
    let writer = swapped.get(commerce::PRODUCT_ACTIVATED).unwrap().schema();
    assert!(
        swapped
            .get(commerce::PRODUCT_ACTIVATED)
            .unwrap()
            .json()
            .contains(r#"["string","null"]"#)
    );
    let mut registry = EmbeddedRegistry::new();
    let mut records = vec![];
    for (correlation, causation) in [(None, Some("c-1")), (Some("corr-9"), None)] {
        let mut record = activated();
        record.envelope.correlation_id = correlation.map(str::to_owned);
        record.envelope.causation_id = causation.map(str::to_owned);
        let bytes = write_with(&mut registry, writer, commerce::to_value(&record));
        records.push((record, bytes));
    }
    let codec = Codec::new(Arc::new(registry));
    for (record, bytes) in records {
        assert_eq!(codec.decode_commerce(&bytes).await.unwrap(), record);
        // And the other way: our own encoding (null first) decodes the same.
        let ours = codec
            .encode_commerce(COMMERCE_TOPIC, &record)
            .await
            .unwrap();
        assert_ne!(ours, bytes);
        assert_eq!(codec.decode_commerce(&ours).await.unwrap(), record);
    }
}

/// Every field-level problem is `Invalid` and names the field (A3: a
/// timestamp in seconds is rejected, not applied).
#[tokio::test]
async fn invalid_fields_are_named() {
    let s = |v: &str| Some(Value::String(v.into()));
    let cases: Vec<(CommerceRecord, &[&str], Option<Value>, &str)> = vec![
        (
            created(None),
            &["envelope", "tenant_id"],
            s("Bad Tenant!"),
            "tenant_id",
        ),
        (
            created(None),
            &["envelope", "occurred_at"],
            Some(Value::TimestampMillis(1_735_689_600)),
            "occurred_at",
        ),
        (
            created(None),
            &["envelope", "sequence"],
            Some(Value::Long(0)),
            "sequence",
        ),
        (created(None), &["envelope", "source"], s(" "), "source"),
        (created(None), &["site"], s("Acme!"), "site"),
        (created(None), &["country"], s("DEU"), "country"),
        (
            created(None),
            &["residency_pin"],
            s("mars"),
            "residency_pin",
        ),
        (created(None), &["kms_key"], s("alias/customer"), "kms_key"),
        (created(None), &["owner_email"], s("nobody"), "owner_email"),
        (activated(), &["product"], s("JIRA"), "product"),
        (activated(), &["seats"], Some(Value::Int(0)), "seats"),
        (
            activated(),
            &["apps"],
            Some(Value::Array(vec![Value::String("Bad App".into())])),
            "apps",
        ),
    ];
    let mut registry = EmbeddedRegistry::new();
    let mut inputs = vec![];
    for (record, path, new, field) in cases {
        let name = commerce::full_name(&record.event);
        let mut value = commerce::to_value(&record);
        set(&mut value, path, new);
        inputs.push((write_with(&mut registry, &current(name), value), field));
    }
    let codec = Codec::new(Arc::new(registry));
    for (bytes, field) in inputs {
        match codec.decode_commerce(&bytes).await {
            Err(DecodeError::Invalid(e)) => assert_eq!(e.field, field, "{e}"),
            other => panic!("{field}: expected Invalid, got {other:?}"),
        }
    }
}
