//! Poison records (case D3), framing, wrong kinds, registry outages.

use super::*;

/// Case D3: the records of partition 0 in order; 2–4 are poison and permanent.
#[tokio::test]
async fn d3_poison_records_are_permanent_failures() {
    let codec = Codec::embedded();
    let valid_created = codec
        .encode_commerce(COMMERCE_TOPIC, &created(None))
        .await
        .unwrap();
    let valid_activated = codec
        .encode_commerce(COMMERCE_TOPIC, &activated())
        .await
        .unwrap();
    type Expect = fn(&DecodeError) -> bool;
    let poison: [(&str, Vec<u8>, Expect); 3] = [
        ("JSON object", br#"{"tenant":"t3"}"#.to_vec(), |e| {
            matches!(e, DecodeError::Malformed(_))
        }),
        ("five bytes 00 00 00 00 07", vec![0, 0, 0, 0, 7], |e| {
            matches!(e, DecodeError::Malformed(_))
        }),
        (
            "schema id 9999",
            frame(9999, &valid_created[HEADER_LEN..]),
            |e| *e == DecodeError::UnknownSchema { id: 9999 },
        ),
    ];
    assert!(codec.decode_commerce(&valid_created).await.is_ok());
    for (name, bytes, expected) in poison {
        let err = codec.decode_commerce(&bytes).await.unwrap_err();
        assert!(expected(&err), "{name}: {err:?}");
        assert!(err.is_permanent(), "{name}");
    }
    assert!(codec.decode_commerce(&valid_activated).await.is_ok());
}

#[tokio::test]
async fn framing_errors_are_malformed() {
    let codec = Codec::embedded();
    let mut trailing = codec
        .encode_commerce(COMMERCE_TOPIC, &activated())
        .await
        .unwrap();
    trailing.push(0);
    let truncated = {
        let full = codec
            .encode_commerce(COMMERCE_TOPIC, &activated())
            .await
            .unwrap();
        full[..full.len() - 3].to_vec()
    };
    for bytes in [vec![], vec![0, 0, 1], trailing, truncated] {
        let err = codec.decode_commerce(&bytes).await.unwrap_err();
        assert!(
            matches!(err, DecodeError::Malformed(_)),
            "{bytes:?}: {err:?}"
        );
        assert_eq!(err.code(), "malformed");
    }
}

struct Down;

#[async_trait::async_trait]
impl SchemaRegistry for Down {
    async fn schema_by_id(&self, _id: u32) -> Result<Arc<Schema>, RegistryError> {
        Err(RegistryError::Unavailable("connection refused".into()))
    }
    async fn id_for(&self, _subject: &str, _schema: &Schema) -> Result<u32, RegistryError> {
        Err(RegistryError::Unavailable("connection refused".into()))
    }
}

/// Case D3, last sentence: an unreachable registry is not the record's fault.
#[tokio::test]
async fn d3_unreachable_registry_is_transient() {
    let bytes = Codec::embedded()
        .encode_commerce(COMMERCE_TOPIC, &activated())
        .await
        .unwrap();
    let codec = Codec::new(Arc::new(Down));
    let err = codec.decode_commerce(&bytes).await.unwrap_err();
    assert!(
        matches!(err, DecodeError::RegistryUnavailable(_)),
        "{err:?}"
    );
    assert!(!err.is_permanent());
    let err = codec
        .encode_commerce(COMMERCE_TOPIC, &activated())
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        EncodeError::Registry(RegistryError::Unavailable(_))
    ));
}

#[tokio::test]
async fn records_of_another_kind_are_wrong_kind() {
    let mut registry = EmbeddedRegistry::new();
    let foreign = Schema::parse_str(
        r#"{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"}]}"#,
    )
    .unwrap();
    let foreign_bytes = write_with(
        &mut registry,
        &foreign,
        Value::Record(vec![("id".into(), Value::String("o1".into()))]),
    );
    let codec = Codec::new(Arc::new(registry));
    let saga = codec
        .encode_provisioning(PROVISIONING_TOPIC, &provisioning_samples()[0])
        .await
        .unwrap();
    let commerce = codec
        .encode_commerce(COMMERCE_TOPIC, &activated())
        .await
        .unwrap();
    for (bytes, decode_as_commerce) in [(&saga, true), (&commerce, false), (&foreign_bytes, true)] {
        let err = if decode_as_commerce {
            codec.decode_commerce(bytes).await.unwrap_err()
        } else {
            codec.decode_provisioning(bytes).await.unwrap_err()
        };
        assert!(matches!(err, DecodeError::WrongKind(_)), "{err:?}");
        assert!(err.is_permanent());
    }
}

/// A writer that declares `event_id` a plain string and writes garbage: the
/// value cannot resolve to the reader's `uuid`, so it is Malformed (permanent).
#[tokio::test]
async fn non_uuid_event_id_is_permanent() {
    let plain = catalog_with("envelope.avsc", |json| {
        json["fields"][0]["type"] = "string".into()
    });
    let mut value = commerce::to_value(&created(None));
    set(
        &mut value,
        &["envelope", "event_id"],
        Some(Value::String("not-a-uuid".into())),
    );
    let mut registry = EmbeddedRegistry::new();
    let bytes = write_with(
        &mut registry,
        plain.get(commerce::TENANT_CREATED).unwrap().schema(),
        value,
    );
    let err = Codec::new(Arc::new(registry))
        .decode_commerce(&bytes)
        .await
        .unwrap_err();
    assert!(matches!(err, DecodeError::Malformed(_)), "{err:?}");
    assert!(err.is_permanent());
}
