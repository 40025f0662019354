//! `tenantry-apps`: the adapter of saga step 7 (install the licensed apps)
//! and of its compensation — signed lifecycle callbacks to each app, only to
//! allow-listed hosts (DESIGN.md, step 7).
//!
//! Installing an app calls `POST {base}/installed`, uninstalling it
//! `POST {base}/uninstalled`, with a JSON [`LifecycleBody`] and
//! `Authorization: Bearer <JWT>`: an HS256 JWT (RFC 7519; HS256 per RFC 7518
//! §3.2) signed with the app's shared secret, claims in [`LifecycleClaims`].
//! A host not in the egress allow-list fails the call with
//! [`AppError::EgressDenied`] before any request is made.
//!
//! Delivery is at least once: the same call may reach an app twice (a retry
//! after a timeout whose request did arrive, a step re-run after a crash).
//! Each call carries an idempotency key — the body's `idempotency_key` and the
//! token's `jti`, equal on every delivery — and apps dedupe on it.
//!
//! Modules:
//! - `config`: [`AppsConfig`] (apps, allow-list, issuer, timeout), parsed from JSON;
//! - `egress`: the allow-list and its matching rules (private);
//! - `lifecycle`: the wire contract — [`LifecycleCall`], [`LifecycleBody`], [`LifecycleEvent`];
//! - `token`: the JWT claims, HS256 signing and strict verification;
//! - `client`: [`AppClient`], which sends a call and classifies failures as
//!   retryable or permanent ([`AppError::is_retryable`]);
//! - [`recorder`]: a recording app server that verifies tokens strictly, for
//!   tests and `tenantry dev`.
//!
//! The recorder is always compiled, not behind a feature: it needs only axum,
//! which the `tenantry` binary already links for the context API, and
//! `tenantry dev` — a subcommand of that same binary — serves it. A feature
//! would save nothing in the shipped binary and would let
//! `cargo test -p tenantry-apps` skip the tests silently.
//!
//! Depends on `tenantry-schemas` (identifiers) only; no saga logic here.

mod client;
mod config;
mod egress;
mod lifecycle;
pub mod recorder;
mod token;

pub use client::{AppClient, AppError, MAX_BODY_BYTES};
pub use config::{
    AppRegistration, AppsConfig, ConfigError, DEFAULT_ISSUER, DEFAULT_TIMEOUT, MAX_TIMEOUT,
    SharedSecret,
};
pub use lifecycle::{LifecycleBody, LifecycleCall, LifecycleEvent};
pub use token::{
    LifecycleClaims, MIN_SECRET_BYTES, TOKEN_TTL_SECS, VERIFY_LEEWAY_SECS, ensure_crypto_provider,
};
