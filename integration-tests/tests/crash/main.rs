//! Delivery you can trust: the engine keeps its delivery guarantees (cases
//! D1, D2, D6 in `../shared/cases/README.md`) when its processes are killed
//! and when the infrastructure under it goes away.
//!
//! - [`kills`]: three `tenantry provisioner` processes on one consumer group,
//!   one SIGKILLed at random moments, again and again.
//! - [`infra`]: a (private, single-node) Kafka broker SIGKILLed and restarted
//!   mid-run, and the database taken away mid-run (a private PostgreSQL
//!   cluster stopped and started; connections terminated).
//! - [`fencing`]: a second provisioner under the first one's static-member
//!   name makes the first stop with the reason.
//! - [`changelog`]: `tenantry projector` SIGKILLed mid-run; the tenant
//!   context changelog still holds every version, in order, and converges
//!   to the context store.
//! - [`cluster`]: a three-broker cluster (replication factor 3,
//!   `min.insync.replicas=2`) loses the broker that leads the most partitions.
//!
//! Each test publishes its tenants with `tenantry publish --file`, runs the
//! provisioner as a child process (`provisioner`), waits until every tenant
//! is provisioned (`progress`) and then checks, in `guarantees`: every saga
//! completed; exactly one product database per tenant and product (rows and
//! PostgreSQL schemas); no duplicate identity rows; exactly one
//! `saga_completed` per saga for a consumer that deduplicates by event id;
//! nothing left in the outbox. Duplicates before the dedup are allowed and
//! counted in the summary each test prints (`--no-capture` shows it).
//!
//! Needs the local stack (`infra/local/up`) and `cargo build --bin tenantry`.

mod changelog;
mod cluster;
mod fencing;
mod guarantees;
mod infra;
mod kills;
mod progress;
mod provisioner;
mod workload;
