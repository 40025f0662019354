//! [`LocalKeyService`]: tenant master keys in files, for development.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use rand::RngCore;
use rand::TryRngCore;
use rand::rngs::OsRng;
use tenantry_schemas::TenantId;
use zeroize::Zeroizing;

use crate::envelope::{self, KEY_LEN, Wrapping};
use crate::{KeyError, KeyService, TenantKey};

/// Per-tenant master keys kept as files on this machine: the embedded mode
/// (`tenantry dev`) and the local stack without AWS (DESIGN, "keys" row).
///
/// **For development only.** A master key never leaves the machine, but it
/// sits in a file readable by its owner, not in an HSM as the seed's
/// "Cryptographic key management" asks of production; use [`KmsKeyService`](crate::KmsKeyService) there.
///
/// Layout of the directory (created with mode 0700):
/// - `<tenant>.key`: the tenant's master key, 32 random bytes (256 bits),
///   mode 0600, written to a temporary file, synced, then hard-linked into
///   place, so readers never see a partial key and two creators never replace
///   each other's key;
/// - `<tenant>.destroyed`: tombstone written by [`KeyService::destroy_key`];
///   while it exists every operation of the tenant fails with [`KeyError::Destroyed`].
///
/// Every [`KeyService::seal_with`] draws a fresh data key and wraps it under the
/// master key with AES-256-GCM (a random 96-bit nonce; additional data:
/// `tenantry-keys/local/v1:` and the tenant id), so NIST SP 800-38D §8.3 caps
/// a tenant at 2^32 seals, ample for development. Destruction overwrites the key file with zeros, syncs it and
/// deletes it; on copy-on-write or journaling file systems and on SSDs the old
/// blocks may survive, which is one more reason this is not for production.
#[derive(Debug, Clone)]
pub struct LocalKeyService {
    dir: PathBuf,
}

impl LocalKeyService {
    /// Uses `dir` as the key directory, creating it (mode 0700) if missing.
    ///
    /// Errors: the directory cannot be created.
    pub fn new(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let dir = dir.into();
        DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
        Ok(Self { dir })
    }

    /// The key directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn key_path(&self, tenant: &TenantId) -> PathBuf {
        self.dir.join(format!("{tenant}.key"))
    }

    fn tombstone_path(&self, tenant: &TenantId) -> PathBuf {
        self.dir.join(format!("{tenant}.destroyed"))
    }

    /// Reads the tenant's master key: `Destroyed` if the tombstone exists,
    /// `NotFound` if the key file does not.
    fn master_key(&self, tenant: &TenantId) -> Result<aes_gcm::Aes256Gcm, KeyError> {
        if exists(&self.tombstone_path(tenant))? {
            return Err(KeyError::Destroyed(tenant.clone()));
        }
        let path = self.key_path(tenant);
        let bytes = match fs::read(&path) {
            Ok(bytes) => Zeroizing::new(bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(KeyError::NotFound(tenant.clone()));
            }
            Err(e) => return Err(io_error(&path, e)),
        };
        envelope::cipher(&bytes)
            .map_err(|_| KeyError::Corrupt(format!("{}: not a {KEY_LEN}-byte key", path.display())))
    }

    fn create_blocking(&self, tenant: &TenantId) -> Result<(), KeyError> {
        if exists(&self.tombstone_path(tenant))? {
            return Err(KeyError::Destroyed(tenant.clone()));
        }
        let path = self.key_path(tenant);
        if exists(&path)? {
            return Ok(());
        }
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        OsRng
            .try_fill_bytes(key.as_mut())
            .map_err(|e| KeyError::Unavailable(format!("operating system random source: {e}")))?;
        let tmp = self
            .dir
            .join(format!(".{tenant}.key.{:016x}.tmp", rand::rng().next_u64()));
        let written =
            write_new(&tmp, key.as_ref()).and_then(|()| match fs::hard_link(&tmp, &path) {
                // Another creator won the race: its key is kept (idempotent create).
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
                other => other,
            });
        let removed = fs::remove_file(&tmp);
        written
            .and(removed)
            .and_then(|()| sync_dir(&self.dir))
            .map_err(|e| io_error(&path, e))
    }

    fn destroy_blocking(&self, tenant: &TenantId) -> Result<(), KeyError> {
        // The tombstone first: from here on nothing of the tenant opens, even
        // if the process dies before the key file is gone.
        let tombstone = self.tombstone_path(tenant);
        match write_new(&tombstone, b"") {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                return Err(io_error(&tombstone, e));
            }
            _ => {}
        }
        let path = self.key_path(tenant);
        match OpenOptions::new().write(true).open(&path) {
            Ok(mut file) => {
                file.write_all(&[0u8; KEY_LEN])
                    .and_then(|()| file.sync_all())
                    .and_then(|()| fs::remove_file(&path))
                    .map_err(|e| io_error(&path, e))?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(&path, e)),
        }
        sync_dir(&self.dir).map_err(|e| io_error(&self.dir, e))
    }

    fn seal_blocking(&self, tenant: &TenantId, plaintext: &[u8]) -> Result<Vec<u8>, KeyError> {
        let master = self.master_key(tenant)?;
        let mut data_key = Zeroizing::new([0u8; KEY_LEN]);
        rand::rng().fill_bytes(data_key.as_mut());
        let wrapped = envelope::wrap(&master, &wrap_aad(tenant), data_key.as_ref());
        let cipher = envelope::cipher(data_key.as_ref())?;
        envelope::seal(&cipher, Wrapping::Local, &wrapped, tenant, plaintext)
    }

    fn open_blocking(&self, tenant: &TenantId, sealed: &[u8]) -> Result<Vec<u8>, KeyError> {
        let parsed = envelope::parse(sealed, Wrapping::Local)?;
        let master = self.master_key(tenant)?;
        let data_key = envelope::unwrap(&master, &wrap_aad(tenant), parsed.wrapped_key)?;
        envelope::open(&envelope::cipher(&data_key)?, &parsed, tenant)
    }

    /// Runs blocking file work off the async executor.
    async fn blocking<T, F>(&self, work: F) -> Result<T, KeyError>
    where
        T: Send + 'static,
        F: FnOnce(&Self) -> Result<T, KeyError> + Send + 'static,
    {
        let this = self.clone();
        tokio::task::spawn_blocking(move || work(&this))
            .await
            .map_err(|e| KeyError::Unavailable(format!("key file task failed: {e}")))?
    }
}

#[async_trait]
impl KeyService for LocalKeyService {
    async fn create_key(&self, key: &TenantKey) -> Result<(), KeyError> {
        no_customer_key(key)?;
        let tenant = key.tenant.clone();
        self.blocking(move |s| s.create_blocking(&tenant)).await
    }

    async fn seal_with(&self, key: &TenantKey, plaintext: &[u8]) -> Result<Vec<u8>, KeyError> {
        no_customer_key(key)?;
        let (tenant, plaintext) = (key.tenant.clone(), Zeroizing::new(plaintext.to_vec()));
        self.blocking(move |s| s.seal_blocking(&tenant, &plaintext))
            .await
    }

    async fn open_with(&self, key: &TenantKey, sealed: &[u8]) -> Result<Vec<u8>, KeyError> {
        no_customer_key(key)?;
        let (tenant, sealed) = (key.tenant.clone(), sealed.to_vec());
        self.blocking(move |s| s.open_blocking(&tenant, &sealed))
            .await
    }

    /// For a tenant with its own key too: the tombstone forgets the tenant,
    /// and no KMS key is touched.
    async fn destroy_key(&self, key: &TenantKey) -> Result<(), KeyError> {
        let tenant = key.tenant.clone();
        self.blocking(move |s| s.destroy_blocking(&tenant)).await
    }
}

/// Key files cannot wrap under a tenant's own KMS key: such a tenant fails
/// its creation with this reason rather than getting a key file instead.
fn no_customer_key(key: &TenantKey) -> Result<(), KeyError> {
    match &key.customer_key {
        None => Ok(()),
        Some(own) => Err(KeyError::Unusable {
            tenant: key.tenant.clone(),
            key: own.clone(),
            reason: "the local key service keeps key files and cannot use AWS KMS keys; \
                     run Tenantry with --key-service kms"
                .into(),
        }),
    }
}

fn wrap_aad(tenant: &TenantId) -> Vec<u8> {
    [
        b"tenantry-keys/local/v1:".as_slice(),
        tenant.as_str().as_bytes(),
    ]
    .concat()
}

/// Creates `path` (failing if it exists) with mode 0600, writes and syncs it.
fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Makes a created, linked or removed name durable (POSIX: sync the directory).
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn exists(path: &Path) -> Result<bool, KeyError> {
    path.try_exists().map_err(|e| io_error(path, e))
}

fn io_error(path: &Path, e: io::Error) -> KeyError {
    KeyError::Unavailable(format!("{}: {e}", path.display()))
}
