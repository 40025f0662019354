//! End-to-end tests against the real local stack: the Apache Kafka broker
//! (`TENANTRY_BOOTSTRAP`), PostgreSQL (`TENANTRY_DATABASE_URL`) and the
//! `tenantry` binary (`TENANTRY_BIN`). `infra/local/test` sets all three.
//! Every test gets fresh topics and fresh databases.

mod admin;
mod admin_binary;
mod batch;
mod blue_green;
mod browser;
mod byok;
mod changelog;
mod cli;
mod context_cache;
mod contract;
mod dead_letter;
mod dev;
mod dynamodb;
mod lifecycle;
mod local_stack;
mod metrics;
mod moves;
mod parking;
mod partitioning;
mod rds;
mod rebuild;
mod replay_property;
mod steps;
mod support;
mod traces;
