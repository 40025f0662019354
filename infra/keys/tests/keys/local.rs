//! `LocalKeyService`: the contract, plus what the key files look like.

use std::os::unix::fs::PermissionsExt;

use tenantry_keys::{KeyService, LocalKeyService};

use crate::contract::{self, fresh_tenant};

fn service() -> (tempfile::TempDir, LocalKeyService) {
    let dir = tempfile::tempdir().unwrap();
    let keys = LocalKeyService::new(dir.path().join("keys")).unwrap();
    (dir, keys)
}

#[tokio::test]
async fn round_trip() {
    contract::round_trip(&service().1).await;
}

#[tokio::test]
async fn another_tenant_cannot_open() {
    contract::another_tenant_cannot_open(&service().1).await;
}

#[tokio::test]
async fn destroy_shreds_and_is_idempotent() {
    contract::destroy_shreds_and_is_idempotent(&service().1).await;
}

#[tokio::test]
async fn create_is_idempotent() {
    contract::create_is_idempotent(&service().1).await;
}

#[tokio::test]
async fn concurrent_creates_agree() {
    contract::concurrent_creates_agree(&service().1).await;
}

#[tokio::test]
async fn unknown_tenant_is_not_found() {
    contract::unknown_tenant_is_not_found(&service().1).await;
}

#[tokio::test]
async fn tampering_is_detected() {
    contract::tampering_is_detected(&service().1).await;
}

#[tokio::test]
async fn key_files_are_private_and_shredded() {
    let (_dir, keys) = service();
    let tenant = fresh_tenant("files");
    keys.create_tenant_key(&tenant).await.unwrap();
    let key_file = keys.dir().join(format!("{tenant}.key"));
    let meta = std::fs::metadata(&key_file).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.len(), 32, "a 256-bit key");
    let dir_mode = std::fs::metadata(keys.dir()).unwrap().permissions().mode();
    assert_eq!(dir_mode & 0o777, 0o700);
    keys.destroy_tenant_key(&tenant).await.unwrap();
    assert!(!key_file.exists());
    let names: Vec<_> = std::fs::read_dir(keys.dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        names,
        [format!("{tenant}.destroyed")],
        "no key and no temporary file left"
    );
}

#[tokio::test]
async fn local_and_kms_sealed_values_are_not_mixed_up() {
    let (_dir, keys) = service();
    let tenant = fresh_tenant("mixed");
    keys.create_tenant_key(&tenant).await.unwrap();
    let mut sealed = keys.seal(&tenant, b"x").await.unwrap();
    sealed[1] = 2; // claims a KMS-wrapped data key
    let err = keys.open(&tenant, &sealed).await.unwrap_err();
    assert!(err.to_string().contains("key service 2"), "{err}");
}
