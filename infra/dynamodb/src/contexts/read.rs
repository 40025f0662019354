//! Consistent reads of a context's items, reassembled.

use super::*;

impl DynamoContexts {
    pub(super) fn key(tenant: &str, part: i64) -> Item {
        HashMap::from([(TENANT.to_owned(), s(tenant)), (PART.to_owned(), n(part))])
    }

    /// Part 0's revision and item count, read consistently.
    pub(super) async fn read_head(&self, tenant: &str) -> Result<Option<Head>, ContextsError> {
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
    pub(super) async fn query_items(&self, tenant: &str) -> Result<Vec<Item>, ContextsError> {
        self.client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("#t = :t")
            .expression_attribute_names("#t", TENANT)
            .expression_attribute_values(":t", s(tenant))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(self.sdk("Query"))
    }

    /// The context the items of one tenant hold.
    pub(super) fn assemble(
        &self,
        tenant: &str,
        items: &[Item],
    ) -> Result<Assembled, ContextsError> {
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
    pub(super) async fn read(&self, tenant: &str) -> Result<Option<Stored>, ContextsError> {
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

    /// Every item of the table (only its key when `keys_only`), read with
    /// a consistent scan.
    pub(super) async fn scan(&self, keys_only: bool) -> Result<Vec<Item>, ContextsError> {
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
