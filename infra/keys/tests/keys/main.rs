//! Integration tests of `tenantry-keys`: one binary, a module per concern.
//!
//! `kms` and `byok` need the moto server of the local stack: `. infra/local/env` and
//! `infra/local/up` first. Every test uses fresh tenant ids, so no reset of
//! the emulator is needed.

mod byok;
mod contract;
mod fake_kms;
mod kms;
mod local;
