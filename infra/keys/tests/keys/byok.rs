//! A tenant's own KMS key ("bring your own key") under `KmsKeyService`,
//! against moto: the customer's keys are made here with a plain KMS client,
//! as the customer would make them in its account, and named by ARN.

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyState, KeyUsageType};
use tenantry_keys::{
    KeyError, KeyService, KmsEndpoint, KmsKeyService, KmsSettings, RetryPolicy, TenantKey,
};
use tenantry_schemas::KmsKeyRef;

use crate::contract::fresh_tenant;
use crate::fake_kms::FakeKms;

fn endpoint() -> KmsEndpoint {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "these tests run against moto: `. infra/local/env` and `infra/local/up` first"
    );
    KmsEndpoint::from_env().expect("AWS settings from infra/local/env")
}

/// The customer's own client: not Tenantry's.
fn customer() -> aws_sdk_kms::Client {
    endpoint().client(&RetryPolicy::default())
}

/// The key id at the end of a key ARN: moto 5 manages keys (DisableKey,
/// EnableKey) by key id only, as the customer may in its own account.
fn key_id(key: &KmsKeyRef) -> &str {
    key.as_str().rsplit('/').next().unwrap()
}

fn service() -> KmsKeyService {
    KmsKeyService::new(&endpoint(), KmsSettings::default())
}

/// The customer enables or disables its key `key` (by key id: moto's
/// `DisableKey` and `EnableKey` fail on an ARN).
async fn set_enabled(key: &KmsKeyRef, enabled: bool) {
    let id = key_id(key);
    if enabled {
        customer().enable_key().key_id(id).send().await.unwrap();
    } else {
        customer().disable_key().key_id(id).send().await.unwrap();
    }
}

/// A key the customer creates: `usage` and `spec`, named by its ARN.
async fn customer_key(usage: KeyUsageType, spec: KeySpec) -> KmsKeyRef {
    let created = customer()
        .create_key()
        .description("a customer's own key")
        .key_usage(usage)
        .key_spec(spec)
        .send()
        .await
        .unwrap();
    let arn = created.key_metadata.unwrap().arn.unwrap();
    KmsKeyRef::parse(&arn).unwrap()
}

async fn symmetric_key() -> KmsKeyRef {
    customer_key(KeyUsageType::EncryptDecrypt, KeySpec::SymmetricDefault).await
}

async fn state(key: &KmsKeyRef) -> (KeyState, bool) {
    let meta = customer()
        .describe_key()
        .key_id(key.as_str())
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    (meta.key_state.unwrap(), meta.deletion_date.is_some())
}

fn reason(error: KeyError) -> String {
    match error {
        KeyError::Unusable { reason, .. } => reason,
        other => panic!("expected Unusable, got {other:?}"),
    }
}

#[tokio::test]
async fn creation_checks_the_key_and_fails_with_the_reason() {
    let keys = service();

    let missing = KmsKeyRef::parse(&format!(
        "arn:aws:kms:us-east-1:123456789012:key/{}",
        uuid_like()
    ))
    .unwrap();
    let tenant = TenantKey::customer(fresh_tenant("byok-missing"), missing.clone());
    let err = keys.create_key(&tenant).await.unwrap_err();
    assert!(!err.is_retryable() && !err.is_blocked(), "{err:?}");
    assert!(err.to_string().contains(missing.as_str()), "{err}");
    assert!(reason(err).contains("NotFoundException"));

    let disabled = symmetric_key().await;
    set_enabled(&disabled, false).await;
    let tenant = TenantKey::customer(fresh_tenant("byok-disabled"), disabled);
    let err = keys.create_key(&tenant).await.unwrap_err();
    assert_eq!(reason(err), "its key state is Disabled, not Enabled");

    let signing = customer_key(KeyUsageType::SignVerify, KeySpec::Rsa2048).await;
    let tenant = TenantKey::customer(fresh_tenant("byok-signing"), signing);
    let err = keys.create_key(&tenant).await.unwrap_err();
    assert_eq!(
        reason(err),
        "its key usage is SIGN_VERIFY, not ENCRYPT_DECRYPT"
    );

    let good = symmetric_key().await;
    let tenant = TenantKey::customer(fresh_tenant("byok-good"), good);
    keys.create_key(&tenant).await.unwrap();
    keys.create_key(&tenant).await.unwrap();
}

#[tokio::test]
async fn data_keys_are_wrapped_by_the_tenants_own_key() {
    let keys = service();
    let own = symmetric_key().await;
    let tenant = fresh_tenant("byok-wrap");
    let key = TenantKey::customer(tenant.clone(), own.clone());
    keys.create_key(&key).await.unwrap();
    let sealed = keys
        .seal_with(&key, b"postgres://p:s3cret@shard/jira")
        .await
        .unwrap();
    assert_eq!(
        keys.open_with(&key, &sealed).await.unwrap(),
        b"postgres://p:s3cret@shard/jira"
    );

    // The wrapped data key in the header is a CiphertextBlob of the
    // customer's key: KMS says so when it decrypts it without being told.
    let wrapped_len = usize::from(u16::from_be_bytes([sealed[2], sealed[3]]));
    let decrypted = customer()
        .decrypt()
        .ciphertext_blob(Blob::new(&sealed[4..4 + wrapped_len]))
        .encryption_context("tenant_id", tenant.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(decrypted.key_id.as_deref(), Some(own.as_str()));

    // No key of Tenantry's was made for the tenant, and it is not aliased.
    let alias = customer()
        .describe_key()
        .key_id(KmsKeyService::alias(&tenant))
        .send()
        .await;
    assert!(alias.is_err(), "{alias:?}");
    // Opened as a Tenantry-keyed tenant, the value does not open.
    let managed = TenantKey::managed(tenant.clone());
    assert!(keys.open_with(&managed, &sealed).await.is_err());
}

#[tokio::test]
async fn a_key_disabled_later_blocks_the_tenant_until_enabled() {
    let keys = service();
    let own = symmetric_key().await;
    let tenant = fresh_tenant("byok-later");
    let key = TenantKey::customer(tenant.clone(), own.clone());
    keys.create_key(&key).await.unwrap();
    let sealed = keys.seal_with(&key, b"secret").await.unwrap();

    set_enabled(&own, false).await;
    let disabled = KeyError::Disabled {
        tenant: tenant.clone(),
        key: own.clone(),
        state: "disabled".into(),
    };
    let err = keys.open_with(&key, &sealed).await.unwrap_err();
    assert_eq!(err, disabled);
    assert!(err.is_blocked() && !err.is_retryable());
    let message = err.to_string();
    assert!(
        message.contains(tenant.as_str()) && message.contains(own.as_str()),
        "names tenant and key: {message}"
    );
    // The data key cached by the first seal does not outlive the key.
    assert_eq!(keys.seal_with(&key, b"more").await.unwrap_err(), disabled);

    // Another tenant, on Tenantry's own key, is not concerned.
    let other = TenantKey::managed(fresh_tenant("byok-other"));
    keys.create_key(&other).await.unwrap();
    let theirs = keys.seal_with(&other, b"theirs").await.unwrap();
    assert_eq!(keys.open_with(&other, &theirs).await.unwrap(), b"theirs");

    set_enabled(&own, true).await;
    assert_eq!(keys.open_with(&key, &sealed).await.unwrap(), b"secret");
    keys.seal_with(&key, b"more").await.unwrap();
}

#[tokio::test]
async fn destroying_forgets_the_tenant_and_leaves_its_key_alone() {
    let keys = service();
    let own = symmetric_key().await;
    let tenant = fresh_tenant("byok-destroy");
    let key = TenantKey::customer(tenant.clone(), own.clone());
    keys.create_key(&key).await.unwrap();
    let sealed = keys.seal_with(&key, b"secret").await.unwrap();

    keys.destroy_key(&key).await.unwrap();
    keys.destroy_key(&key).await.unwrap();
    assert_eq!(
        state(&own).await,
        (KeyState::Enabled, false),
        "never disabled, never scheduled for deletion"
    );
    let destroyed = KeyError::Destroyed(tenant.clone());
    assert_eq!(keys.open_with(&key, &sealed).await.unwrap_err(), destroyed);
    assert_eq!(keys.seal_with(&key, b"more").await.unwrap_err(), destroyed);
    assert_eq!(keys.create_key(&key).await.unwrap_err(), destroyed);
}

/// Real KMS enforces the key state itself; for a tenant's own key its
/// state errors, and a refused access, mean "disabled by its owner": the
/// saga parks (blocked), never "destroyed" and never an outage to wait out.
#[tokio::test]
async fn real_kms_key_state_and_access_errors_mean_disabled_for_a_tenants_own_key() {
    for code in [
        "DisabledException",
        "KMSInvalidStateException",
        "AccessDeniedException",
    ] {
        let fake = FakeKms::start(code).await;
        let keys = fake.service(3, false);
        let own = KmsKeyRef::parse("1234abcd-12ab-34cd-56ef-1234567890ab").unwrap();
        let key = TenantKey::customer(fresh_tenant("byok-state"), own);
        let err = keys.seal_with(&key, b"x").await.unwrap_err();
        assert!(err.is_blocked(), "{code}: {err:?}");
        let sealed = [&[1u8, 2, 0, 1, 0xAA][..], &[0; 12], &[0; 16]].concat();
        assert!(
            keys.open_with(&key, &sealed)
                .await
                .unwrap_err()
                .is_blocked()
        );
        assert!(
            fake.targets()
                .iter()
                .all(|t| t == "trentservice.describekey"),
            "{:?}",
            fake.targets()
        );
    }
}

#[tokio::test]
async fn the_local_key_service_refuses_a_tenants_own_key() {
    let dir = tempfile::tempdir().unwrap();
    let keys = tenantry_keys::LocalKeyService::new(dir.path()).unwrap();
    let own = KmsKeyRef::parse("1234abcd-12ab-34cd-56ef-1234567890ab").unwrap();
    let key = TenantKey::customer(fresh_tenant("byok-local"), own);
    let err = keys.create_key(&key).await.unwrap_err();
    assert!(reason(err).contains("--key-service kms"));
}

/// A random key id (UUID form) no key has.
fn uuid_like() -> String {
    use rand::RngCore;
    let mut rng = rand::rng();
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        rng.next_u32(),
        rng.next_u32() & 0xffff,
        rng.next_u32() & 0xfff,
        rng.next_u32() & 0xfff,
        rng.next_u64() & 0xffff_ffff_ffff
    )
}

/// Seals trust a key found `Enabled` for `customer_key_recheck`: a key
/// disabled meanwhile is noticed by the next seal after that time (at
/// once with zero), by opens at once.
#[tokio::test]
async fn seals_trust_an_enabled_key_for_the_recheck_interval() {
    let own = symmetric_key().await;
    let key = TenantKey::customer(fresh_tenant("byok-recheck"), own.clone());
    let trusting = service();
    let strict = KmsKeyService::new(
        &endpoint(),
        KmsSettings {
            customer_key_recheck: std::time::Duration::ZERO,
            ..KmsSettings::default()
        },
    );
    for keys in [&trusting, &strict] {
        keys.create_key(&key).await.unwrap();
        keys.seal_with(&key, b"first").await.unwrap();
    }
    set_enabled(&own, false).await;
    let sealed = trusting
        .seal_with(&key, b"within the interval")
        .await
        .unwrap();
    assert!(
        matches!(
            strict.seal_with(&key, b"rechecked").await.unwrap_err(),
            KeyError::Disabled { .. }
        ),
        "a zero interval asks KMS before every seal"
    );
    assert!(matches!(
        trusting.open_with(&key, &sealed).await.unwrap_err(),
        KeyError::Disabled { .. }
    ));
    // The open's verdict ends the trust at once.
    assert!(matches!(
        trusting
            .seal_with(&key, b"after the open")
            .await
            .unwrap_err(),
        KeyError::Disabled { .. }
    ));
}
