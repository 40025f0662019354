//! A context deleted in one conditional `TransactWriteItems`.

use super::*;

impl DynamoContexts {
    /// Deletes `tenant`'s context when its revision is `expected`: part 0
    /// under a condition pinning the revision and the part count read, the
    /// other parts with it. Whether it was deleted (`false`: changed since,
    /// or gone).
    pub(super) async fn delete_if(
        &self,
        tenant: &str,
        expected: i64,
    ) -> Result<bool, ContextsError> {
        for _ in 0..WRITE_DECISIONS {
            let Some(head) = self.read_head(tenant).await? else {
                return Ok(false);
            };
            if head.revision != expected {
                return Ok(false);
            }
            let first = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(Self::key(tenant, 0)))
                .condition_expression("#r = :expected AND #n = :parts")
                .expression_attribute_names("#r", REVISION)
                .expression_attribute_names("#n", PARTS)
                .expression_attribute_values(":expected", n(head.revision))
                .expression_attribute_values(":parts", n(head.parts))
                .build()
                .expect("delete is complete");
            let mut items = vec![TransactWriteItem::builder().delete(first).build()];
            for part in 1..head.parts {
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(Self::key(tenant, part)))
                    .build()
                    .expect("delete is complete");
                items.push(TransactWriteItem::builder().delete(delete).build());
            }
            if self.transact(&items).await? {
                return Ok(true);
            }
            // Changed between the read and the transaction: decide again.
        }
        Ok(false)
    }
}
