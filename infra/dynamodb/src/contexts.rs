//! [`DynamoContexts`]: the layout and protocol are described in the crate
//! docs.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
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

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        Some(other) => Err(format!("attribute {name} is not a string: {other:?}")),
        None => Err(format!("attribute {name} is missing")),
    }
}

fn get_n(item: &Item, name: &str) -> Result<i64, String> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v
            .parse()
            .map_err(|_| format!("attribute {name} is not an integer: {v}")),
        Some(other) => Err(format!("attribute {name} is not a number: {other:?}")),
        None => Err(format!("attribute {name} is missing")),
    }
}

fn get_bool(item: &Item, name: &str) -> Result<bool, String> {
    match item.get(name) {
        Some(AttributeValue::Bool(v)) => Ok(*v),
        Some(other) => Err(format!("attribute {name} is not a boolean: {other:?}")),
        None => Err(format!("attribute {name} is missing")),
    }
}

/// `body` cut into chunks of at most [`CHUNK_BYTES`], on character
/// boundaries; an empty body is one empty chunk.
fn split(body: &str) -> Vec<&str> {
    let mut chunks = Vec::new();
    let mut rest = body;
    loop {
        if rest.len() <= CHUNK_BYTES {
            chunks.push(rest);
            return chunks;
        }
        let mut end = CHUNK_BYTES;
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (chunk, tail) = rest.split_at(end);
        chunks.push(chunk);
        rest = tail;
    }
}

/// The host a context is found by: lower case, none when empty (an empty
/// string cannot be an index key).
fn host_of(context: &TenantContext) -> Option<String> {
    context
        .state
        .site_host
        .as_deref()
        .filter(|h| !h.is_empty())
        .map(str::to_ascii_lowercase)
}

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

    fn sdk<E: std::error::Error + 'static>(
        &self,
        operation: &'static str,
    ) -> impl Fn(E) -> ContextsError + '_ {
        move |error| self.unavailable(operation, DisplayErrorContext(&error).to_string())
    }

    fn corrupt(&self, tenant: &str, reason: String) -> ContextsError {
        ContextsError::Corrupt(Box::new(DynamoError::Corrupt {
            table: self.table.clone(),
            tenant: tenant.to_owned(),
            reason,
        }))
    }

    /// Creates the table and its index unless it exists (idempotent:
    /// `ResourceInUseException` is success), then waits until both are
    /// `ACTIVE`, at most the configured `table_active_timeout`.
    pub async fn ensure_table(&self) -> Result<(), ContextsError> {
        let key = |name: &str, key_type| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(key_type)
                .build()
                .expect("key schema element is complete")
        };
        let attribute = |name: &str, kind| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(kind)
                .build()
                .expect("attribute definition is complete")
        };
        let index = GlobalSecondaryIndex::builder()
            .index_name(SITE_HOST_INDEX)
            .key_schema(key(SITE_HOST, KeyType::Hash))
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::KeysOnly)
                    .build(),
            )
            .build()
            .expect("index is complete");
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attribute(TENANT, ScalarAttributeType::S))
            .attribute_definitions(attribute(PART, ScalarAttributeType::N))
            .attribute_definitions(attribute(SITE_HOST, ScalarAttributeType::S))
            .key_schema(key(TENANT, KeyType::Hash))
            .key_schema(key(PART, KeyType::Range))
            .global_secondary_indexes(index)
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(CreateTableError::ResourceInUseException(_))
                ) => {}
            Err(error) => return Err(self.sdk("CreateTable")(error)),
        }
        let deadline = Instant::now() + self.active_timeout;
        loop {
            let described = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(self.sdk("DescribeTable"))?;
            let table = described.table();
            let table_active = table.and_then(|t| t.table_status()) == Some(&TableStatus::Active);
            let indexes_active = table.is_some_and(|t| {
                t.global_secondary_indexes().iter().all(|index| {
                    index
                        .index_status()
                        .is_none_or(|status| *status == IndexStatus::Active)
                })
            });
            if table_active && indexes_active {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(self.unavailable(
                    "DescribeTable",
                    format!("table not ACTIVE after {:?}", self.active_timeout),
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Deletes the table (tests, teardown); a missing table is success.
    pub async fn delete_table(&self) -> Result<(), ContextsError> {
        match self
            .client
            .delete_table()
            .table_name(&self.table)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(DeleteTableError::ResourceNotFoundException(_))
                ) =>
            {
                Ok(())
            }
            Err(error) => Err(self.sdk("DeleteTable")(error)),
        }
    }

    fn key(tenant: &str, part: i64) -> Item {
        HashMap::from([(TENANT.to_owned(), s(tenant)), (PART.to_owned(), n(part))])
    }

    /// Part 0's revision and item count, read consistently.
    async fn read_head(&self, tenant: &str) -> Result<Option<Head>, ContextsError> {
        let found = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(tenant, 0)))
            .consistent_read(true)
            .projection_expression("#r, #n")
            .expression_attribute_names("#r", REVISION)
            .expression_attribute_names("#n", PARTS)
            .send()
            .await
            .map_err(self.sdk("GetItem"))?;
        let Some(item) = found.item() else {
            return Ok(None);
        };
        let head = (|| {
            Ok::<_, String>(Head {
                revision: get_n(item, REVISION)?,
                parts: get_n(item, PARTS)?,
            })
        })()
        .map_err(|reason| self.corrupt(tenant, reason))?;
        Ok(Some(head))
    }

    /// Every item of `tenant`, in part order, read consistently.
    async fn query_items(&self, tenant: &str) -> Result<Vec<Item>, ContextsError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression("#t = :t")
                .expression_attribute_names("#t", TENANT)
                .expression_attribute_values(":t", s(tenant))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(self.sdk("Query"))?;
            items.extend(page.items().iter().cloned());
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// The context the items of one tenant hold.
    fn assemble(&self, tenant: &str, items: &[Item]) -> Result<Assembled, ContextsError> {
        let corrupt = |reason: String| self.corrupt(tenant, reason);
        let mut by_part = BTreeMap::new();
        for item in items {
            by_part.insert(get_n(item, PART).map_err(corrupt)?, item);
        }
        let Some(head) = by_part.get(&0) else {
            return Ok(Ok(None));
        };
        let revision = get_n(head, REVISION).map_err(corrupt)?;
        let updated_at = get_n(head, UPDATED_AT).map_err(corrupt)?;
        let parts = get_n(head, PARTS).map_err(corrupt)?;
        let destroyed = get_bool(head, DESTROYED).map_err(corrupt)?;
        let site_host = match head.get(SITE_HOST) {
            None => None,
            Some(_) => Some(get_s(head, SITE_HOST).map_err(corrupt)?.to_owned()),
        };
        if !(1..=MAX_PARTS as i64).contains(&parts) {
            return Err(corrupt(format!("parts is {parts}")));
        }
        let mut body = String::from(get_s(head, BODY).map_err(corrupt)?);
        for part in 1..parts {
            let Some(chunk) = by_part.get(&part) else {
                return Ok(Err(Torn(format!("part {part} of {parts} is missing"))));
            };
            let chunk_revision = get_n(chunk, REVISION).map_err(corrupt)?;
            let chunk_updated_at = get_n(chunk, UPDATED_AT).map_err(corrupt)?;
            if (chunk_revision, chunk_updated_at) != (revision, updated_at) {
                return Ok(Err(Torn(format!(
                    "part {part} is of revision {chunk_revision} written at {chunk_updated_at}, \
                     part 0 of revision {revision} written at {updated_at}"
                ))));
            }
            body.push_str(get_s(chunk, BODY).map_err(corrupt)?);
        }
        let context: TenantContext = serde_json::from_str(&body)
            .map_err(|error| corrupt(format!("body is not a tenant context: {error}")))?;
        if context.tenant_id.as_str() != tenant {
            return Err(corrupt(format!(
                "body is the context of tenant {}",
                context.tenant_id.as_str()
            )));
        }
        Ok(Ok(Some(Stored {
            context,
            revision,
            site_host,
            destroyed,
            updated_at,
        })))
    }

    /// The stored context of `tenant`, read consistently (again while the
    /// read straddles a write).
    async fn read(&self, tenant: &str) -> Result<Option<Stored>, ContextsError> {
        let mut last = String::new();
        for attempt in 0..READ_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(10 << attempt)).await;
            }
            let items = self.query_items(tenant).await?;
            match self.assemble(tenant, &items)? {
                Ok(stored) => return Ok(stored),
                Err(Torn(reason)) => last = reason,
            }
        }
        Err(self.corrupt(tenant, last))
    }

    /// Writes `context` as `mode` says; whether it was written.
    async fn write(&self, context: &TenantContext, mode: Mode) -> Result<bool, ContextsError> {
        let tenant = context.tenant_id.as_str();
        let body = serde_json::to_string(context)
            .map_err(|error| self.corrupt(tenant, format!("does not encode: {error}")))?;
        let chunks = split(&body);
        if chunks.len() > MAX_PARTS {
            return Err(self.unavailable(
                "TransactWriteItems",
                format!(
                    "the context of tenant {tenant} is {} bytes of JSON, more than {MAX_PARTS} items \
                     of {CHUNK_BYTES} bytes",
                    body.len()
                ),
            ));
        }
        for _ in 0..WRITE_DECISIONS {
            let head = self.read_head(tenant).await?;
            let revision = match (mode, head) {
                (Mode::Unconditional, None) => 1,
                (Mode::Unconditional, Some(head)) => head.revision + 1,
                (Mode::Expect(expected), None) => expected.map_or(1, |r| r + 1),
                (Mode::Expect(Some(expected)), Some(head)) if head.revision == expected => {
                    expected + 1
                }
                (Mode::Expect(_), Some(_)) => return Ok(false),
            };
            let items = self.transaction(context, &chunks, revision, mode, head);
            match self.transact(&items).await? {
                true => return Ok(true),
                // Changed since read: decide again.
                false => continue,
            }
        }
        match mode {
            Mode::Expect(_) => Ok(false),
            Mode::Unconditional => Err(self.unavailable(
                "TransactWriteItems",
                format!("the context of tenant {tenant} kept changing while it was written"),
            )),
        }
    }

    /// The items of one write: part 0 under a condition pinning `head`
    /// (what was read), the chunks, deletes of the chunks beyond.
    fn transaction(
        &self,
        context: &TenantContext,
        chunks: &[&str],
        revision: i64,
        mode: Mode,
        head: Option<Head>,
    ) -> Vec<TransactWriteItem> {
        let tenant = context.tenant_id.as_str();
        let updated_at = now_ms();
        let parts = chunks.len() as i64;
        let mut first = Self::key(tenant, 0);
        first.insert(REVISION.to_owned(), n(revision));
        first.insert(UPDATED_AT.to_owned(), n(updated_at));
        first.insert(PARTS.to_owned(), n(parts));
        first.insert(
            DESTROYED.to_owned(),
            AttributeValue::Bool(context.state.status == TenantStatus::Destroyed),
        );
        first.insert(BODY.to_owned(), s(chunks[0]));
        if let Some(host) = host_of(context) {
            first.insert(SITE_HOST.to_owned(), AttributeValue::S(host));
        }
        let put = Put::builder().table_name(&self.table).set_item(Some(first));
        let put = match (mode, head) {
            (_, None) => put
                .condition_expression("attribute_not_exists(#t)")
                .expression_attribute_names("#t", TENANT),
            (Mode::Expect(_), Some(head)) => put
                .expression_attribute_names("#t", TENANT)
                .condition_expression(
                    "attribute_not_exists(#t) OR (#r = :expected AND #n = :parts)",
                )
                .expression_attribute_names("#r", REVISION)
                .expression_attribute_names("#n", PARTS)
                .expression_attribute_values(":expected", n(head.revision))
                .expression_attribute_values(":parts", n(head.parts)),
            (Mode::Unconditional, Some(head)) => put
                .condition_expression("#r = :expected AND #n = :parts")
                .expression_attribute_names("#r", REVISION)
                .expression_attribute_names("#n", PARTS)
                .expression_attribute_values(":expected", n(head.revision))
                .expression_attribute_values(":parts", n(head.parts)),
        };
        let mut items = vec![
            TransactWriteItem::builder()
                .put(put.build().expect("put is complete"))
                .build(),
        ];
        for (part, chunk) in chunks.iter().enumerate().skip(1) {
            let mut item = Self::key(tenant, part as i64);
            item.insert(REVISION.to_owned(), n(revision));
            item.insert(UPDATED_AT.to_owned(), n(updated_at));
            item.insert(BODY.to_owned(), s(chunk));
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .build()
                .expect("put is complete");
            items.push(TransactWriteItem::builder().put(put).build());
        }
        let old_parts = head.map_or(0, |head| head.parts);
        for part in parts..old_parts {
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(Self::key(tenant, part)))
                .build()
                .expect("delete is complete");
            items.push(TransactWriteItem::builder().delete(delete).build());
        }
        items
    }

    /// Runs one transaction: `true` written, `false` its condition failed.
    /// Conflicts with other transactions and throttling are retried with
    /// backoff.
    async fn transact(&self, items: &[TransactWriteItem]) -> Result<bool, ContextsError> {
        let client = &self.client;
        let table = self.table.as_str();
        let attempt = || async move {
            let sent = client
                .transact_write_items()
                .set_transact_items(Some(items.to_vec()))
                .send()
                .await;
            let error = match sent {
                Ok(_) => return Ok(true),
                Err(error) => error,
            };
            let message = DisplayErrorContext(&error).to_string();
            match error.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                    let codes: Vec<&str> = cancelled
                        .cancellation_reasons()
                        .iter()
                        .filter_map(|reason| reason.code())
                        .collect();
                    let has = |code: &str| {
                        codes.contains(&code) || (codes.is_empty() && message.contains(code))
                    };
                    if has("ConditionalCheckFailed") {
                        Ok(false)
                    } else if has("TransactionConflict")
                        || has("ThrottlingError")
                        || has("ProvisionedThroughputExceeded")
                        || has("RequestLimitExceeded")
                    {
                        Err(TxError::Retry(message))
                    } else {
                        Err(TxError::Fatal(message))
                    }
                }
                Some(TransactWriteItemsError::TransactionInProgressException(_)) => {
                    Err(TxError::Retry(message))
                }
                _ => Err(TxError::Fatal(message)),
            }
        };
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(20))
            .with_max_delay(Duration::from_secs(1))
            .with_max_times(8)
            .with_jitter();
        attempt
            .retry(backoff)
            .when(|error| matches!(error, TxError::Retry(_)))
            .notify(|_, wait| {
                tracing::debug!(table, ?wait, "DynamoDB transaction conflict, retrying");
            })
            .await
            .map_err(|error| match error {
                TxError::Retry(message) | TxError::Fatal(message) => {
                    self.unavailable("TransactWriteItems", message)
                }
            })
    }

    /// Every item of the table (only its key when `keys_only`), read with
    /// a consistent scan.
    async fn scan(&self, keys_only: bool) -> Result<Vec<Item>, ContextsError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let mut scan = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .set_exclusive_start_key(start);
            if keys_only {
                scan = scan
                    .projection_expression("#t, #p")
                    .expression_attribute_names("#t", TENANT)
                    .expression_attribute_names("#p", PART);
            }
            let page = scan.send().await.map_err(self.sdk("Scan"))?;
            items.extend(page.items().iter().cloned());
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                return Ok(items);
            }
        }
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
        let mut tenants = BTreeSet::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(SITE_HOST_INDEX)
                .key_condition_expression("#h = :h")
                .expression_attribute_names("#h", SITE_HOST)
                .expression_attribute_values(":h", s(host))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(self.sdk("Query"))?;
            for item in page.items() {
                let tenant = get_s(item, TENANT).map_err(|reason| self.corrupt("?", reason))?;
                tenants.insert(tenant.to_owned());
            }
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
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

#[cfg(test)]
mod tests {
    use super::{CHUNK_BYTES, split};

    #[test]
    fn split_keeps_every_byte_on_char_boundaries() {
        assert_eq!(split(""), [""]);
        assert_eq!(split("{}"), ["{}"]);
        let body = "é".repeat(CHUNK_BYTES + 7);
        let chunks = split(&body);
        assert_eq!(chunks.len(), 3);
        assert!(chunks.iter().all(|chunk| chunk.len() <= CHUNK_BYTES));
        assert_eq!(chunks.concat(), body);
    }
}
