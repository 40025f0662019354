//! sqlx adapters for PostgreSQL (local stack, production) and SQLite (embedded
//! mode), through one code path: sqlx's `Any` driver with SQL that both accept.
//!
//! - [`Store`]: connection, backend detection, migrations (`migrations/`, one
//!   source, translated for SQLite at run time).
//! - [`batch`]: the store behind a batch's unit of work — one read per table,
//!   one multi-row statement per table, one commit.
//! - [`StoreWork`]: one transaction of the provisioner — the
//!   [`tenantry_sagas::UnitOfWork`] — and [`Store`] as the
//!   [`tenantry_sagas::ProvisionerStore`], built from the row functions below.
//! - [`memory`]: the same traits in memory, for tests.
//! - [`inbox`]: dedup by event id + the tenant's event stream + tenant specs.
//! - [`sagas`]: saga store with compare-and-set on the saga version.
//! - [`outbox`]: provisioning records written in the state-change transaction,
//!   and the relay's queries.
//! - [`parking`]: the rows behind per-tenant release order: cursors, held
//!   events, parked tenants, operator requests.
//! - [`tenant_states`]: desired and provisioned state per tenant (the reconciler's input).
//! - `WriteBehind`: tenant states and outbox rows a transaction writes once, before it commits.
//! - [`contexts`]: the tenant context store read by edges.
//! - [`timeline`]: one tenant's events, sagas and saga versions for the
//!   operators' timeline page.
//! - `step_store`: [`StoreWork`] as the [`tenantry_sagas::step_store::StepStore`]
//!   — the rows the saga steps write on their own path, per table.
//! - [`product_db`]: product databases — a PostgreSQL schema per tenant and
//!   product, or a SQLite file per tenant and product in embedded mode.
//!
//! Depends on `tenantry-sagas` and `tenantry-schemas`; nothing depends on services.
//!
//! Queries are not checked at compile time. sqlx checks `query!` macros
//! against one concrete driver, with a live database or committed offline
//! metadata per driver; this crate serves PostgreSQL and SQLite through the
//! `Any` driver with one set of SQL strings, and its batch statements are
//! built at run time (one `VALUES` row per record, a `WITH` clause per
//! table that has rows), which no macro can check. They are checked by the
//! tests instead: every query runs against both backends in this crate's
//! tests and against PostgreSQL in the end-to-end suite.

pub mod batch;
pub mod contexts;
pub mod inbox;
pub mod memory;
mod migrations;
pub mod outbox;
pub mod parking;
pub mod product_db;
pub mod sagas;
mod spans;
mod step_store;
mod store;
pub mod tenant_states;
pub mod timeline;
mod unit_of_work;
mod write_behind;

pub use contexts::ContextStore;
pub use product_db::ProductDatabases;
pub use store::{Backend, Store, StoreError, masked, now_ms};
pub use unit_of_work::StoreWork;
