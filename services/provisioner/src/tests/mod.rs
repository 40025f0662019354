//! Unit tests of the ingest, the saga runner and the operator's actions on
//! the in-memory store ([`tenantry_store::memory::MemoryStore`]), with fake
//! step effects and paused time: the cases that need a failing, hanging or
//! racing step, or a shutdown at a chosen moment.

mod ingest;
mod metrics;
mod runner;
pub(crate) mod support;
