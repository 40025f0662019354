//! A context written in one conditional `TransactWriteItems`.

use super::*;

impl DynamoContexts {
    /// Writes `context` as `mode` says; whether it was written.
    pub(super) async fn write(
        &self,
        context: &TenantContext,
        mode: Mode,
    ) -> Result<bool, ContextsError> {
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
    pub(super) fn transaction(
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
    pub(super) async fn transact(
        &self,
        items: &[TransactWriteItem],
    ) -> Result<bool, ContextsError> {
        let client = &self.client;
        let table = self.table.as_str();
        // The idempotency token of this write (DynamoDB keeps it 10
        // minutes): a retry of a transaction that was applied, though its
        // answer was lost (an attempt timed out), succeeds without
        // applying it again, instead of failing the condition its own
        // first attempt changed and reporting the write as not written.
        let token = uuid::Uuid::new_v4().to_string();
        let token = token.as_str();
        let attempt = || async move {
            let sent = client
                .transact_write_items()
                .set_transact_items(Some(items.to_vec()))
                .client_request_token(token)
                .send()
                .await;
            let error = match sent {
                Ok(_) => return Ok(true),
                Err(error) => error,
            };
            let message = describe("DynamoDB", &error);
            // The full text, `Debug` dump included, is only searched for a
            // reason code when DynamoDB lists none (as before), never shown.
            let searched = DisplayErrorContext(&error).to_string();
            match error.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                    let codes: Vec<&str> = cancelled
                        .cancellation_reasons()
                        .iter()
                        .filter_map(|reason| reason.code())
                        .collect();
                    let has = |code: &str| {
                        codes.contains(&code) || (codes.is_empty() && searched.contains(code))
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
}
