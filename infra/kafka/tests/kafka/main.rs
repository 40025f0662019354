//! Integration tests of `tenantry-kafka` against a real Apache Kafka broker (the
//! local stack's: `TENANTRY_BOOTSTRAP`, default `127.0.0.1:9092`), plus the embedded
//! broker (`embedded`), which needs nothing running. Every test uses a fresh topic and
//! consumer group and waits on conditions with a deadline.

mod dead_letter;
mod embedded;
mod membership;
mod offsets;
mod order;
mod read_to_end;
mod rebalance;
mod support;
