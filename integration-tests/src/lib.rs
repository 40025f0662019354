//! `tenantry_integration_tests` — the harness every end-to-end test binary of
//! this crate shares. The tests themselves live in `tests/`:
//!
//! | binary | what it proves |
//! |---|---|
//! | `tests/e2e/` | the walking skeleton, CLI, dead letters, parking, dev mode (services in-process) |
//! | `tests/crash/` | delivery guarantees under fire: provisioner processes SIGKILLed, brokers and the database lost mid-run, a three-broker cluster losing its busiest broker |
//!
//! They need the local stack (`infra/local/up`: Apache Kafka on
//! `TENANTRY_BOOTSTRAP` and its classpath for private brokers, PostgreSQL on
//! `TENANTRY_DATABASE_URL`) and the `tenantry` binary (`TENANTRY_BIN`);
//! `infra/local/test` sets all of them. Built with the `testcontainers`
//! feature, where a Docker engine answers and none of those addresses is
//! set, they start the shared PostgreSQL, Kafka and moto in containers
//! instead ([`env`] says what is selected when); private brokers and
//! clusters still need the local Kafka classpath and PostgreSQL binaries.
//!
//! | module | owns |
//! |---|---|
//! | [`env`] | addresses of the stack (variables, containers or the local defaults: [`env::stack_source`]) and of the binaries |
//! | [`docker`] | whether a Docker engine answers (standard library only) |
//! | `containers` | feature `testcontainers`: PostgreSQL, Kafka and moto in containers, once per process |
//! | [`fresh`] | a fresh PostgreSQL database and fresh, uniquely named topics per test |
//! | [`changelog`] | the tenant context changelog read back and held against the context store |
//! | [`wait`] | polling a condition with a deadline (never a bare sleep as an assertion) |
//! | [`process`] | `tenantry` as a child process: one-shot CLI runs and long-running services with a log file, SIGKILL and SIGTERM |
//! | [`kafka`] | private Kafka brokers (one node or a three-node cluster) on free ports that a test may kill and restart |
//! | [`postgres`] | a private PostgreSQL cluster on a free port that a test may stop and start |
//! | [`logs`] | a directory per test run for child-process logs, kept when the test fails |
//!
//! Rules the helpers keep: every child process is killed when its handle
//! drops, and the shared broker and PostgreSQL server are never stopped —
//! tests that restart infrastructure start their own. Tests leave their
//! database and topics behind for a failed run's post-mortem;
//! `infra/local/test` removes them at the start of the next run.

pub mod changelog;
#[cfg(feature = "testcontainers")]
pub mod containers;
pub mod docker;
pub mod env;
pub mod fresh;
pub mod kafka;
pub mod logs;
pub mod postgres;
pub mod process;
pub mod wait;

pub use env::{
    DOMAIN, StackSource, aws_endpoint_url, bootstrap, selected_stack, server_url, tenantry_bin,
};
pub use fresh::{fresh_database, fresh_database_on, fresh_topics, fresh_topics_on};
pub use logs::RunDir;
pub use process::{ServiceProcess, tenantry, tenantry_command};
pub use wait::{Poll, wait_for, wait_until};
