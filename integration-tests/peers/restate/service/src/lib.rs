//! Restate as a performance peer of Tenantry.
//!
//! Two binaries share this crate:
//! - `restate-peer-service` (`src/bin/service.rs`): a Restate SDK endpoint
//!   whose workflow runs Tenantry's seven provisioning steps as seven
//!   journaled `ctx.run` blocks, each one PostgreSQL `INSERT`.
//! - `restate-peer` (`src/main.rs`): the load generator. It starts
//!   `restate-server` and the service on loopback, registers the service,
//!   drives workflows at a fixed concurrency and prints one JSON line of
//!   figures.
//!
//! Nothing here depends on Tenantry's crates: the peer must stand alone.

/// The workflow's service name, as in `POST /<WORKFLOW>/<key>/run`.
pub const WORKFLOW: &str = "PeerWorkflow";

/// The seven provisioning steps, named as Tenantry names them
/// (`sagas/src/steps.rs`, `Step::name`), in the same order.
pub const STEPS: [&str; 7] = [
    "record_licence",
    "create_site",
    "place_region",
    "store_metadata",
    "create_identity",
    "provision_database",
    "install_apps",
];

/// The table the steps insert into, in the peer's own database.
pub const TABLE: &str = "peer_steps";
