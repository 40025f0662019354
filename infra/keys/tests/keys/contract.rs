//! The `KeyService` contract, run against each implementation.

use rand::RngCore;
use tenantry_keys::{KeyError, KeyService};
use tenantry_schemas::TenantId;

/// A tenant id no other test (or earlier run against the same moto) uses.
pub fn fresh_tenant(prefix: &str) -> TenantId {
    TenantId::parse(&format!("{prefix}-{:016x}", rand::rng().next_u64())).unwrap()
}

pub async fn round_trip(keys: &dyn KeyService) {
    let tenant = fresh_tenant("round-trip");
    keys.create_tenant_key(&tenant).await.unwrap();
    let secret = b"postgres://product:s3cret@shard-1/jira";
    for plaintext in [&b""[..], secret, &[0xA5; 10_000]] {
        let sealed = keys.seal(&tenant, plaintext).await.unwrap();
        assert_eq!(keys.open(&tenant, &sealed).await.unwrap(), plaintext);
    }
    let sealed = keys.seal(&tenant, secret).await.unwrap();
    assert!(
        !sealed.windows(secret.len()).any(|w| w == secret),
        "no plaintext in the sealed bytes"
    );
    let (a, b) = (
        keys.seal(&tenant, b"same").await.unwrap(),
        keys.seal(&tenant, b"same").await.unwrap(),
    );
    assert_ne!(a, b, "a fresh nonce per seal");
}

pub async fn another_tenant_cannot_open(keys: &dyn KeyService) {
    let (t13, t14) = (fresh_tenant("t13"), fresh_tenant("t14"));
    keys.create_tenant_key(&t13).await.unwrap();
    keys.create_tenant_key(&t14).await.unwrap();
    let sealed = keys.seal(&t13, b"t13's secret").await.unwrap();
    let err = keys.open(&t14, &sealed).await.unwrap_err();
    assert!(matches!(err, KeyError::Corrupt(_)), "{err:?}");
    assert!(!err.is_retryable());
}

pub async fn destroy_shreds_and_is_idempotent(keys: &dyn KeyService) {
    let tenant = fresh_tenant("shred");
    keys.create_tenant_key(&tenant).await.unwrap();
    let sealed = keys.seal(&tenant, b"credentials").await.unwrap();
    keys.destroy_tenant_key(&tenant).await.unwrap();
    let destroyed = KeyError::Destroyed(tenant.clone());
    assert_eq!(keys.open(&tenant, &sealed).await.unwrap_err(), destroyed);
    keys.destroy_tenant_key(&tenant).await.unwrap();
    assert_eq!(keys.open(&tenant, &sealed).await.unwrap_err(), destroyed);
    assert_eq!(keys.seal(&tenant, b"more").await.unwrap_err(), destroyed);
    assert_eq!(
        keys.create_tenant_key(&tenant).await.unwrap_err(),
        destroyed
    );
    assert!(!destroyed.is_retryable());
    // A tenant that never had a key: nothing to shred.
    keys.destroy_tenant_key(&fresh_tenant("never"))
        .await
        .unwrap();
}

pub async fn create_is_idempotent(keys: &dyn KeyService) {
    let tenant = fresh_tenant("create");
    keys.create_tenant_key(&tenant).await.unwrap();
    let sealed = keys.seal(&tenant, b"kept").await.unwrap();
    keys.create_tenant_key(&tenant).await.unwrap();
    assert_eq!(
        keys.open(&tenant, &sealed).await.unwrap(),
        b"kept",
        "the existing key is kept"
    );
}

pub async fn concurrent_creates_agree(keys: &dyn KeyService) {
    let tenant = fresh_tenant("race");
    let creates = (0..8).map(|_| keys.create_tenant_key(&tenant));
    for created in futures::future::join_all(creates).await {
        created.unwrap();
    }
    let sealed = keys.seal(&tenant, b"one key").await.unwrap();
    assert_eq!(keys.open(&tenant, &sealed).await.unwrap(), b"one key");
}

pub async fn unknown_tenant_is_not_found(keys: &dyn KeyService) {
    let tenant = fresh_tenant("unknown");
    assert_eq!(
        keys.seal(&tenant, b"x").await.unwrap_err(),
        KeyError::NotFound(tenant)
    );
}

pub async fn tampering_is_detected(keys: &dyn KeyService) {
    let tenant = fresh_tenant("tamper");
    keys.create_tenant_key(&tenant).await.unwrap();
    let sealed = keys
        .seal(&tenant, b"product database password")
        .await
        .unwrap();
    let wrapped_len = usize::from(u16::from_be_bytes([sealed[2], sealed[3]]));
    let positions = [
        0,                        // version
        1,                        // wrapping
        4 + wrapped_len / 2,      // wrapped data key
        4 + wrapped_len + 3,      // nonce
        4 + wrapped_len + 12 + 2, // body
        sealed.len() - 1,         // tag
    ];
    for at in positions {
        let mut tampered = sealed.clone();
        tampered[at] ^= 0x01;
        let err = keys.open(&tenant, &tampered).await.unwrap_err();
        assert!(matches!(err, KeyError::Corrupt(_)), "byte {at}: {err:?}");
    }
    for len in [0, 3, sealed.len() - 1] {
        let err = keys.open(&tenant, &sealed[..len]).await.unwrap_err();
        assert!(
            matches!(err, KeyError::Corrupt(_)),
            "truncated to {len}: {err:?}"
        );
    }
    assert_eq!(
        keys.open(&tenant, &sealed).await.unwrap(),
        b"product database password"
    );
}
