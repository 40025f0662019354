//! Round trips of every event kind, exact timestamps, caching.

use super::*;

#[tokio::test]
async fn every_commerce_event_kind_round_trips() {
    let codec = Codec::embedded();
    let samples = commerce_samples();
    let kinds: std::collections::HashSet<_> = samples.iter().map(|r| r.event.kind()).collect();
    assert_eq!(kinds.len(), 7);
    for record in samples {
        let bytes = codec
            .encode_commerce(COMMERCE_TOPIC, &record)
            .await
            .unwrap();
        assert_eq!(bytes[0], MAGIC_BYTE);
        let back = codec.decode_commerce(&bytes).await.unwrap();
        assert_eq!(back, record, "{}", record.event.kind());
    }
}

#[tokio::test]
async fn every_provisioning_event_kind_round_trips() {
    let codec = Codec::embedded();
    let samples = provisioning_samples();
    let kinds: std::collections::HashSet<_> = samples.iter().map(|r| r.event.kind()).collect();
    assert_eq!(kinds.len(), 7);
    for record in samples {
        let bytes = codec
            .encode_provisioning(PROVISIONING_TOPIC, &record)
            .await
            .unwrap();
        let back = codec.decode_provisioning(&bytes).await.unwrap();
        assert_eq!(back, record, "{}", record.event.kind());
    }
}

#[tokio::test]
async fn a3_timestamp_millis_is_kept_exactly() {
    let codec = Codec::embedded();
    let bytes = codec
        .encode_commerce(COMMERCE_TOPIC, &activated())
        .await
        .unwrap();
    let record = codec.decode_commerce(&bytes).await.unwrap();
    // 2025-01-01T00:00:00Z = 20089 days after the epoch.
    assert_eq!(record.envelope.occurred_at_ms, 20_089 * 86_400_000);
}

#[derive(Default)]
struct Counting {
    inner: EmbeddedRegistry,
    by_id: AtomicUsize,
    id_for: AtomicUsize,
}

#[async_trait::async_trait]
impl SchemaRegistry for Counting {
    async fn schema_by_id(&self, id: u32) -> Result<Arc<Schema>, RegistryError> {
        self.by_id.fetch_add(1, Ordering::SeqCst);
        self.inner.schema_by_id(id).await
    }
    async fn id_for(&self, subject: &str, schema: &Schema) -> Result<u32, RegistryError> {
        self.id_for.fetch_add(1, Ordering::SeqCst);
        assert!(
            subject.starts_with("commerce.lifecycle.v1-tenantry.commerce."),
            "{subject}"
        );
        self.inner.id_for(subject, schema).await
    }
}

#[tokio::test]
async fn registry_lookups_are_cached() {
    let registry = Arc::new(Counting::default());
    let codec = Codec::new(registry.clone());
    for _ in 0..3 {
        let bytes = codec
            .encode_commerce(COMMERCE_TOPIC, &activated())
            .await
            .unwrap();
        codec.decode_commerce(&bytes).await.unwrap();
    }
    assert_eq!(registry.id_for.load(Ordering::SeqCst), 1);
    assert_eq!(registry.by_id.load(Ordering::SeqCst), 1);
}
