//! The table and its index: created when missing, deleted.

use super::*;

impl DynamoContexts {
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
}
