//! The sealed format and AES-256-GCM, shared by both key services.
//!
//! Layout: the crate documentation, "Sealed format".
//!
//! The body's additional authenticated data is bytes `0..4+L` followed by the
//! tenant id, so a changed header, a swapped wrapped key or a ciphertext
//! presented for another tenant fails the tag check.
//!
//! Nonces are random (NIST SP 800-38D §8.2.2, "RBG-based construction"); §8.3
//! caps a key at 2^32 such invocations, which bounds the data-key cache's
//! `max_seals` (the default, 5,000,000, is far below it).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use tenantry_schemas::TenantId;

use crate::KeyError;

/// Format version written into byte 0.
const VERSION: u8 = 1;
/// Length of a GCM nonce in bytes (96 bits, NIST SP 800-38D §5.2.1.1).
pub(crate) const NONCE_LEN: usize = 12;
/// Length of an AES-256 key in bytes.
pub(crate) const KEY_LEN: usize = 32;
const TAG_LEN: usize = 16;
const HEADER_FIXED: usize = 4;

/// Who wrapped the data key (byte 1 of the sealed format).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wrapping {
    /// [`LocalKeyService`](crate::LocalKeyService).
    Local = 1,
    /// [`KmsKeyService`](crate::KmsKeyService).
    AwsKms = 2,
}

/// A parsed sealed value, borrowing from the input.
pub(crate) struct Sealed<'a> {
    /// The wrapped data key, to be unwrapped by the key service.
    pub wrapped_key: &'a [u8],
    header: &'a [u8],
    nonce: &'a [u8],
    body: &'a [u8],
}

/// Builds an AES-256-GCM cipher from exactly [`KEY_LEN`] bytes.
pub(crate) fn cipher(key: &[u8]) -> Result<Aes256Gcm, KeyError> {
    Aes256Gcm::new_from_slice(key)
        .map_err(|_| KeyError::Corrupt(format!("data key is {} bytes, not {KEY_LEN}", key.len())))
}

/// Encrypts `plaintext` under `data_key` and lays out the sealed format.
pub(crate) fn seal(
    data_key: &Aes256Gcm,
    wrapping: Wrapping,
    wrapped_key: &[u8],
    tenant: &TenantId,
    plaintext: &[u8],
) -> Result<Vec<u8>, KeyError> {
    let len = u16::try_from(wrapped_key.len())
        .ok()
        .filter(|len| *len > 0)
        .ok_or_else(|| KeyError::Corrupt("wrapped data key must be 1-65535 bytes".into()))?;
    let mut out = Vec::with_capacity(
        HEADER_FIXED + wrapped_key.len() + NONCE_LEN + plaintext.len() + TAG_LEN,
    );
    out.extend_from_slice(&[VERSION, wrapping as u8]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(wrapped_key);
    let header_len = out.len();
    let nonce = random_nonce();
    let ad = aad(&out[..header_len], tenant);
    let body = data_key
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &ad,
            },
        )
        .map_err(|_| KeyError::Corrupt("plaintext too long for AES-GCM".into()))?;
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&body);
    Ok(out)
}

/// Parses the sealed format; `expected` is the caller's wrapping.
///
/// Errors: [`KeyError::Corrupt`] for an unknown version, another wrapping, or
/// a value too short to hold its header, nonce and tag.
pub(crate) fn parse(sealed: &[u8], expected: Wrapping) -> Result<Sealed<'_>, KeyError> {
    let corrupt = |why: &str| KeyError::Corrupt(why.to_owned());
    let fixed = sealed
        .get(..HEADER_FIXED)
        .ok_or_else(|| corrupt("shorter than the header"))?;
    if fixed[0] != VERSION {
        return Err(KeyError::Corrupt(format!(
            "unknown format version {}",
            fixed[0]
        )));
    }
    if fixed[1] != expected as u8 {
        return Err(KeyError::Corrupt(format!(
            "data key wrapped by key service {}, this one is {}",
            fixed[1], expected as u8
        )));
    }
    let len = usize::from(u16::from_be_bytes([fixed[2], fixed[3]]));
    let header_len = HEADER_FIXED + len;
    if len == 0 || sealed.len() < header_len + NONCE_LEN + TAG_LEN {
        return Err(corrupt("truncated"));
    }
    Ok(Sealed {
        wrapped_key: &sealed[HEADER_FIXED..header_len],
        header: &sealed[..header_len],
        nonce: &sealed[header_len..header_len + NONCE_LEN],
        body: &sealed[header_len + NONCE_LEN..],
    })
}

/// Decrypts and authenticates the body with the unwrapped data key.
pub(crate) fn open(
    data_key: &Aes256Gcm,
    sealed: &Sealed<'_>,
    tenant: &TenantId,
) -> Result<Vec<u8>, KeyError> {
    let ad = aad(sealed.header, tenant);
    data_key
        .decrypt(
            Nonce::from_slice(sealed.nonce),
            Payload {
                msg: sealed.body,
                aad: &ad,
            },
        )
        .map_err(|_| {
            KeyError::Corrupt(
                "authentication tag mismatch (tampered, or sealed for another tenant)".into(),
            )
        })
}

/// Encrypts a short secret (a data key) under `key`: `nonce ‖ ciphertext ‖ tag`.
pub(crate) fn wrap(key: &Aes256Gcm, aad: &[u8], secret: &[u8]) -> Vec<u8> {
    let nonce = random_nonce();
    let body = key
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: secret, aad })
        .expect("AES-GCM encrypts inputs shorter than 2^36 bytes");
    [nonce.as_slice(), &body].concat()
}

/// Reverses [`wrap`]. Errors: [`KeyError::Corrupt`] when too short or the tag fails.
pub(crate) fn unwrap(
    key: &Aes256Gcm,
    aad: &[u8],
    wrapped: &[u8],
) -> Result<zeroize::Zeroizing<Vec<u8>>, KeyError> {
    if wrapped.len() < NONCE_LEN + TAG_LEN {
        return Err(KeyError::Corrupt("wrapped data key truncated".into()));
    }
    let (nonce, body) = wrapped.split_at(NONCE_LEN);
    key.decrypt(Nonce::from_slice(nonce), Payload { msg: body, aad })
        .map(zeroize::Zeroizing::new)
        .map_err(|_| {
            KeyError::Corrupt("wrapped data key does not open under the tenant's key".into())
        })
}

fn random_nonce() -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    // ThreadRng is a CSPRNG (ChaCha12) reseeded from the operating system.
    rand::rng().fill_bytes(&mut nonce);
    nonce
}

fn aad(header: &[u8], tenant: &TenantId) -> Vec<u8> {
    [header, tenant.as_str().as_bytes()].concat()
}
