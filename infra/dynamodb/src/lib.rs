//! The tenant context store ([`tenantry_sagas::TenantContexts`]) on Amazon
//! DynamoDB: [`DynamoContexts`], a third implementation beside the SQL
//! `tenantry_store::ContextStore` and `tenantry_store::memory::MemoryContexts`,
//! held to the same conformance suite (`infra/store/tests/contexts`, run
//! here by `tests/contexts.rs`).
//!
//! # Table layout
//!
//! One table (created by [`DynamoContexts::ensure_table`], on-demand
//! billing), partition key `tenant_id` (S), sort key `part` (N). A
//! context is one item or more:
//!
//! | `part` | attributes |
//! | --- | --- |
//! | `0` | `revision` (N), `site_host` (S, lower case, only when the context has a non-empty one), `destroyed` (BOOL), `updated_at` (N, ms since the epoch, the writer's clock), `parts` (N, how many items the context has), `body` (S, the first chunk of the context's JSON) |
//! | `1..parts` | `revision`, `updated_at` (copies of part 0's, so a read that straddles two writes is noticed and repeated) and `body` (the next chunk) |
//!
//! DynamoDB items are limited to 400 KB (case K1), so a context whose JSON
//! exceeds 350,000 bytes is split (on UTF-8 character boundaries) into
//! further items and reassembled on read; nothing is ever truncated. One
//! context is written in one `TransactWriteItems` (at most 100 items and
//! 4 MB), so a context may have at most [`MAX_PARTS`] parts (about 3.8 MB
//! of JSON); a larger one is refused with
//! [`ContextsError::Unavailable`](tenantry_sagas::ContextsError::Unavailable).
//!
//! A global secondary index `by_site_host` (hash key `site_host`, keys
//! only; sparse, as only part 0 carries `site_host`) serves `get_by_host`.
//! Index reads are eventually consistent, so the tenants found are read
//! again with consistent reads and only those whose part 0 still names the
//! host count; of them, one not destroyed wins, then the most recent
//! `updated_at`.
//!
//! # Writes
//!
//! Each context is written by one `TransactWriteItems`: part 0 (a `Put`
//! with a `ConditionExpression`), the chunk items, and `Delete`s of the
//! chunks a previous, longer version had beyond the new count. The writer
//! first reads part 0 (`revision`, `parts`) consistently and decides by the
//! port's rule; the condition then pins what it read
//! (`attribute_not_exists(tenant_id)` when nothing was stored, else
//! `attribute_not_exists(tenant_id) OR (revision = :expected AND parts = :parts)`),
//! so a concurrent writer makes the transaction fail with
//! `ConditionalCheckFailed`: that is a result, not an error — the writer
//! reads part 0 again and decides anew (normally: not written). A
//! `TransactionConflict` (another transaction on the same items) and
//! transactional throttling are retried with exponential backoff
//! (`backon`); request throttling and transient failures are retried by the
//! SDK's standard retry mode.
//!
//! All reads that back read-your-writes are consistent: `get` and
//! `get_many` (a `Query` per tenant), `all` (a consistent `Scan`). SDK
//! failures are [`ContextsError::Unavailable`](tenantry_sagas::ContextsError::Unavailable),
//! items that do not decode [`ContextsError::Corrupt`](tenantry_sagas::ContextsError::Corrupt).

mod config;
mod contexts;

pub use config::{DynamoConfig, MissingEnv};
pub use contexts::{CHUNK_BYTES, DynamoContexts, MAX_PARTS, SITE_HOST_INDEX};
