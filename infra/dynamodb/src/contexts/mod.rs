//! [`DynamoContexts`]: the layout and protocol are described in the crate
//! docs.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::create_table::CreateTableError;
use aws_sdk_dynamodb::operation::delete_table::DeleteTableError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, Delete, DeleteRequest, GlobalSecondaryIndex,
    IndexStatus, KeySchemaElement, KeyType, Projection, ProjectionType, Put, ScalarAttributeType,
    TableStatus, TransactWriteItem, WriteRequest,
};
use backon::{ExponentialBuilder, Retryable};
use futures::{StreamExt, TryStreamExt};
use tenantry_sagas::{ContextsError, TenantContext, TenantContexts, TenantStatus};
use tenantry_schemas::TenantId;

use crate::config::DynamoConfig;
use tenantry_aws::describe;

/// Most bytes of context JSON in one item (DynamoDB's limit is 400 KB per
/// item, attribute names included).
pub const CHUNK_BYTES: usize = 350_000;
/// Most items of one context: one transaction carries at most 4 MB.
pub const MAX_PARTS: usize = 11;
/// The global secondary index on `site_host`.
pub const SITE_HOST_INDEX: &str = "by_site_host";

const TENANT: &str = "tenant_id";
const PART: &str = "part";
const REVISION: &str = "revision";
const SITE_HOST: &str = "site_host";
const DESTROYED: &str = "destroyed";
const UPDATED_AT: &str = "updated_at";
const PARTS: &str = "parts";
const BODY: &str = "body";

/// Reads of one context repeated when they straddle a write.
const READ_ATTEMPTS: usize = 5;
/// Decisions of one conditional write (a failed condition reads again).
const WRITE_DECISIONS: usize = 8;
/// Contexts read or written at once.
const CONCURRENCY: usize = 16;

type Item = HashMap<String, AttributeValue>;

/// Tenant contexts in a DynamoDB table. Clones share the client.
#[derive(Debug, Clone)]
pub struct DynamoContexts {
    client: Client,
    table: String,
    active_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
enum DynamoError {
    #[error("DynamoDB {operation} on table {table} failed: {message}")]
    Call {
        operation: &'static str,
        table: String,
        message: String,
    },
    #[error("tenant context {tenant} in DynamoDB table {table} does not decode: {reason}")]
    Corrupt {
        table: String,
        tenant: String,
        reason: String,
    },
}

/// What a stored context's part 0 says, with the context.
#[derive(Debug)]
struct Stored {
    context: TenantContext,
    revision: i64,
    site_host: Option<String>,
    destroyed: bool,
    updated_at: i64,
}

/// Part 0's revision and item count.
#[derive(Debug, Clone, Copy)]
struct Head {
    revision: i64,
    parts: i64,
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    /// `put_many_if` with this expected revision.
    Expect(Option<i64>),
    /// `put`.
    Unconditional,
}

/// What the items of one tenant hold: its context, if any, or
/// [`Torn`] when they are of two writes (read again).
type Assembled = Result<Option<Stored>, Torn>;

/// Items of two writes, and how they disagree.
struct Torn(String);

enum TxError {
    /// Transaction conflict or throttling: retried.
    Retry(String),
    Fatal(String),
}

mod delete;
mod items;
mod read;
mod table;
mod write;

use items::*;

impl DynamoContexts {
    /// A store on `config.table` (which [`DynamoContexts::ensure_table`]
    /// creates); no request is made here.
    pub fn new(config: DynamoConfig) -> Self {
        Self {
            client: config.client(),
            table: config.table,
            active_timeout: config.table_active_timeout,
        }
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The SDK client (tests, tooling).
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn unavailable(&self, operation: &'static str, message: String) -> ContextsError {
        ContextsError::Unavailable(Box::new(DynamoError::Call {
            operation,
            table: self.table.clone(),
            message,
        }))
    }

    fn sdk<E, R>(&self, operation: &'static str) -> impl Fn(SdkError<E, R>) -> ContextsError + '_
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        move |error| self.unavailable(operation, describe("DynamoDB", &error))
    }

    fn corrupt(&self, tenant: &str, reason: String) -> ContextsError {
        ContextsError::Corrupt(Box::new(DynamoError::Corrupt {
            table: self.table.clone(),
            tenant: tenant.to_owned(),
            reason,
        }))
    }
}

#[async_trait::async_trait]
impl TenantContexts for DynamoContexts {
    async fn get(&self, tenant_id: &TenantId) -> Result<Option<TenantContext>, ContextsError> {
        Ok(self
            .read(tenant_id.as_str())
            .await?
            .map(|stored| stored.context))
    }

    async fn get_by_host(&self, host: &str) -> Result<Option<TenantContext>, ContextsError> {
        let items: Vec<Item> = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(SITE_HOST_INDEX)
            .key_condition_expression("#h = :h")
            .expression_attribute_names("#h", SITE_HOST)
            .expression_attribute_values(":h", s(host))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(self.sdk("Query"))?;
        let mut tenants = BTreeSet::new();
        for item in &items {
            let tenant = get_s(item, TENANT).map_err(|reason| self.corrupt("?", reason))?;
            tenants.insert(tenant.to_owned());
        }
        // The index may lag: read each again, consistently, and keep what
        // still names the host.
        let mut named: Vec<Stored> = futures::stream::iter(tenants)
            .map(|tenant| async move { self.read(&tenant).await })
            .buffer_unordered(CONCURRENCY)
            .try_filter_map(|stored| async move {
                Ok(stored.filter(|stored| stored.site_host.as_deref() == Some(host)))
            })
            .try_collect()
            .await?;
        named.sort_by_key(|stored| {
            (
                stored.destroyed,
                std::cmp::Reverse(stored.updated_at),
                std::cmp::Reverse(stored.revision),
            )
        });
        Ok(named.into_iter().next().map(|stored| stored.context))
    }

    async fn get_many(
        &self,
        tenants: &[&TenantId],
    ) -> Result<BTreeMap<TenantId, (TenantContext, i64)>, ContextsError> {
        let unique: BTreeSet<&str> = tenants.iter().map(|tenant| tenant.as_str()).collect();
        // Futures made first: a closure over borrowed items inside the
        // stream trips the `Send` check of `async_trait`.
        let reads: Vec<_> = unique.into_iter().map(|tenant| self.read(tenant)).collect();
        let found: Vec<Option<Stored>> = futures::stream::iter(reads)
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        Ok(found
            .into_iter()
            .flatten()
            .map(|stored| {
                (
                    stored.context.tenant_id.clone(),
                    (stored.context, stored.revision),
                )
            })
            .collect())
    }

    async fn put_many_if(
        &self,
        contexts: &[(TenantContext, Option<i64>)],
    ) -> Result<BTreeSet<TenantId>, ContextsError> {
        let writes: Vec<_> = contexts
            .iter()
            .map(|(context, expected)| async move {
                let written = self.write(context, Mode::Expect(*expected)).await?;
                Ok::<_, ContextsError>((context.tenant_id.clone(), written))
            })
            .collect();
        let outcomes: Vec<(TenantId, bool)> = futures::stream::iter(writes)
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        Ok(outcomes
            .into_iter()
            .filter_map(|(tenant, written)| written.then_some(tenant))
            .collect())
    }

    async fn delete_many_if(
        &self,
        tenants: &[(TenantId, i64)],
    ) -> Result<BTreeSet<TenantId>, ContextsError> {
        let deletes: Vec<_> = tenants
            .iter()
            .map(|(tenant, expected)| async move {
                let deleted = self.delete_if(tenant.as_str(), *expected).await?;
                Ok::<_, ContextsError>((tenant.clone(), deleted))
            })
            .collect();
        let outcomes: Vec<(TenantId, bool)> = futures::stream::iter(deletes)
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        Ok(outcomes
            .into_iter()
            .filter_map(|(tenant, deleted)| deleted.then_some(tenant))
            .collect())
    }

    async fn put(&self, context: &TenantContext) -> Result<(), ContextsError> {
        self.write(context, Mode::Unconditional).await?;
        Ok(())
    }

    async fn all(&self) -> Result<Vec<TenantContext>, ContextsError> {
        let mut by_tenant: BTreeMap<String, Vec<Item>> = BTreeMap::new();
        for item in self.scan(false).await? {
            let tenant = get_s(&item, TENANT)
                .map_err(|reason| self.corrupt("?", reason))?
                .to_owned();
            by_tenant.entry(tenant).or_default().push(item);
        }
        let mut contexts = Vec::with_capacity(by_tenant.len());
        for (tenant, items) in by_tenant {
            let stored = match self.assemble(&tenant, &items)? {
                Ok(stored) => stored,
                // The scan straddled a write of this tenant.
                Err(Torn(_)) => self.read(&tenant).await?,
            };
            contexts.extend(stored.map(|stored| stored.context));
        }
        contexts.sort_by(|a, b| a.tenant_id.cmp(&b.tenant_id));
        Ok(contexts)
    }

    async fn ping(&self) -> Result<(), ContextsError> {
        self.client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map_err(self.sdk("DescribeTable"))?;
        Ok(())
    }

    async fn clear(&self) -> Result<u64, ContextsError> {
        let keys = self.scan(true).await?;
        let mut cleared = 0;
        for item in &keys {
            if get_n(item, PART).map_err(|reason| self.corrupt("?", reason))? == 0 {
                cleared += 1;
            }
        }
        for batch in keys.chunks(25) {
            let mut requests: Vec<WriteRequest> = batch
                .iter()
                .map(|key| {
                    let delete = DeleteRequest::builder()
                        .set_key(Some(key.clone()))
                        .build()
                        .expect("delete request is complete");
                    WriteRequest::builder().delete_request(delete).build()
                })
                .collect();
            for attempt in 0.. {
                let done = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(self.sdk("BatchWriteItem"))?;
                requests = done
                    .unprocessed_items()
                    .and_then(|unprocessed| unprocessed.get(&self.table))
                    .cloned()
                    .unwrap_or_default();
                if requests.is_empty() {
                    break;
                }
                if attempt >= 10 {
                    return Err(self.unavailable(
                        "BatchWriteItem",
                        format!("{} deletes still unprocessed", requests.len()),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(50 << attempt.min(5))).await;
            }
        }
        Ok(cleared)
    }
}
