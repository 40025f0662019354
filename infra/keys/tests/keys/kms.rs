//! `KmsKeyService` against moto (`AWS_ENDPOINT_URL`), and against the fake
//! KMS for throttling and key-state errors.

use std::sync::Arc;

use tenantry_keys::{CacheLimits, KeyError, KeyService, KmsKeyService, KmsSettings};

use crate::contract::{self, fresh_tenant};
use crate::fake_kms::FakeKms;

fn moto(settings: KmsSettings) -> KmsKeyService {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "these tests run against moto: `. infra/local/env` and `infra/local/up` first"
    );
    KmsKeyService::from_env(settings).expect("AWS settings from infra/local/env")
}

fn service() -> KmsKeyService {
    moto(KmsSettings::default())
}

#[tokio::test]
async fn round_trip() {
    contract::round_trip(&service()).await;
}

#[tokio::test]
async fn another_tenant_cannot_open() {
    contract::another_tenant_cannot_open(&service()).await;
}

#[tokio::test]
async fn destroy_shreds_and_is_idempotent() {
    contract::destroy_shreds_and_is_idempotent(&service()).await;
}

#[tokio::test]
async fn destroy_in_another_process_is_seen_at_once() {
    let (sealer, destroyer) = (service(), service());
    let tenant = fresh_tenant("two-processes");
    sealer.create_tenant_key(&tenant).await.unwrap();
    let sealed = sealer.seal(&tenant, b"secret").await.unwrap();
    destroyer.destroy_tenant_key(&tenant).await.unwrap();
    assert_eq!(
        sealer.open(&tenant, &sealed).await.unwrap_err(),
        KeyError::Destroyed(tenant)
    );
}

#[tokio::test]
async fn create_is_idempotent() {
    contract::create_is_idempotent(&service()).await;
}

#[tokio::test]
async fn concurrent_creates_agree() {
    contract::concurrent_creates_agree(&service()).await;
}

#[tokio::test]
async fn unknown_tenant_is_not_found() {
    contract::unknown_tenant_is_not_found(&service()).await;
}

#[tokio::test]
async fn tampering_is_detected() {
    contract::tampering_is_detected(&service()).await;
}

/// K3: concurrent misses for one tenant and context share one GenerateDataKey.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn k3_64_concurrent_seals_generate_one_data_key() {
    let keys = Arc::new(service());
    let tenant = fresh_tenant("k3");
    keys.create_tenant_key(&tenant).await.unwrap();
    let seals = (0..64).map(|i| {
        let (keys, tenant) = (keys.clone(), tenant.clone());
        tokio::spawn(async move { keys.seal(&tenant, format!("secret {i}").as_bytes()).await })
    });
    let sealed: Vec<_> = futures::future::join_all(seals)
        .await
        .into_iter()
        .map(|s| s.unwrap().unwrap())
        .collect();
    assert_eq!(keys.generate_data_key_calls(), 1);
    for (i, sealed) in sealed.iter().enumerate() {
        assert_eq!(
            keys.open(&tenant, sealed).await.unwrap(),
            format!("secret {i}").as_bytes()
        );
    }
    // Another tenant gets its own data key: t13's key never seals t14's data.
    let other = fresh_tenant("k3-other");
    keys.create_tenant_key(&other).await.unwrap();
    keys.seal(&other, b"x").await.unwrap();
    assert_eq!(keys.generate_data_key_calls(), 2);
}

#[tokio::test]
async fn data_keys_rotate_after_max_seals() {
    let keys = moto(KmsSettings {
        cache: CacheLimits {
            max_seals: 3,
            ..CacheLimits::default()
        },
        ..KmsSettings::default()
    });
    let tenant = fresh_tenant("rotate");
    keys.create_tenant_key(&tenant).await.unwrap();
    let mut sealed = Vec::new();
    for i in 0..7u8 {
        sealed.push(keys.seal(&tenant, &[i]).await.unwrap());
    }
    assert_eq!(keys.generate_data_key_calls(), 3);
    for (i, sealed) in sealed.iter().enumerate() {
        assert_eq!(keys.open(&tenant, sealed).await.unwrap(), [i as u8]);
    }
}

#[tokio::test]
async fn moto_ignores_key_state_so_the_service_checks_it() {
    // What the `check_key_state` default is for: without it, a destroyed key
    // still decrypts on moto 5.2 (real KMS answers DisabledException).
    let unchecked = moto(KmsSettings {
        check_key_state: false,
        ..KmsSettings::default()
    });
    let tenant = fresh_tenant("moto-state");
    unchecked.create_tenant_key(&tenant).await.unwrap();
    let sealed = unchecked.seal(&tenant, b"secret").await.unwrap();
    unchecked.destroy_tenant_key(&tenant).await.unwrap();
    let opened = unchecked.open(&tenant, &sealed).await;
    assert_eq!(
        opened.as_deref().ok(),
        Some(&b"secret"[..]),
        "moto changed: {opened:?}"
    );
    assert_eq!(
        service().open(&tenant, &sealed).await.unwrap_err(),
        KeyError::Destroyed(tenant)
    );
}

#[tokio::test]
async fn throttling_backs_off_then_is_retryable() {
    let fake = FakeKms::start("ThrottlingException").await;
    let keys = Arc::new(fake.service(3, false));
    let tenant = fresh_tenant("throttled");
    let seals = (0..16).map(|_| {
        let (keys, tenant) = (keys.clone(), tenant.clone());
        tokio::spawn(async move { keys.seal(&tenant, b"x").await })
    });
    for seal in futures::future::join_all(seals).await {
        let err = seal.unwrap().unwrap_err();
        assert!(err.is_retryable(), "{err:?}");
        assert!(err.to_string().contains("ThrottlingException"), "{err}");
    }
    // The 16 concurrent misses shared one GenerateDataKey call: 3 attempts.
    assert_eq!(keys.generate_data_key_calls(), 1);
    assert_eq!(fake.targets(), vec!["trentservice.generatedatakey"; 3]);
}

#[tokio::test]
async fn real_kms_key_state_errors_mean_destroyed() {
    for code in ["DisabledException", "KMSInvalidStateException"] {
        let fake = FakeKms::start(code).await;
        let keys = fake.service(3, false);
        let tenant = fresh_tenant("state");
        assert_eq!(
            keys.seal(&tenant, b"x").await.unwrap_err(),
            KeyError::Destroyed(tenant.clone())
        );
        // Version 1, KMS wrapping, a 1-byte wrapped key, nonce, tag.
        let sealed = [&[1u8, 2, 0, 1, 0xAA][..], &[0; 12], &[0; 16]].concat();
        assert_eq!(
            keys.open(&tenant, &sealed).await.unwrap_err(),
            KeyError::Destroyed(tenant)
        );
        assert_eq!(fake.targets().len(), 2, "{code} is not retried");
    }
}
