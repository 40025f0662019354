//! [`DynamoContexts`] against the conformance suite of the tenant context
//! store port (`infra/store/tests/contexts/suite.rs`, included by path with
//! its fixtures, so `tenantry-store` need not know this crate), plus what
//! only DynamoDB needs: contexts larger than one item (case K1), and
//! undecodable items.
//!
//! Every test runs on a fresh table (`tenantry-test-<uuid>`) on the
//! endpoint `AWS_ENDPOINT_URL` names (the local moto server of
//! `infra/local/env`), deleted when the test ends, passed or failed.

#[path = "../../store/tests/contexts/fixtures.rs"]
mod fixtures;
#[path = "../../store/tests/contexts/suite.rs"]
mod suite;

use std::future::Future;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use fixtures::{context, tenant};
use tenantry_dynamodb::{CHUNK_BYTES, DynamoConfig, DynamoContexts};
use tenantry_sagas::{TenantContext, TenantContexts};

/// Runs `test` on a store over a new table, then deletes the table (also
/// when the test panicked, whose panic is then resumed).
async fn on_fresh_table<F, Fut>(test: F)
where
    F: FnOnce(Arc<DynamoContexts>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let table = format!("tenantry-test-{}", uuid::Uuid::new_v4());
    let config = DynamoConfig::from_env(table).expect("AWS_* set by infra/local/env");
    let store = Arc::new(DynamoContexts::new(config));
    store.ensure_table().await.unwrap();
    // Twice: creating an existing table is success.
    store.ensure_table().await.unwrap();
    let outcome = tokio::spawn(test(Arc::clone(&store))).await;
    store.delete_table().await.unwrap();
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}

macro_rules! conformance {
    ($($test:ident),* $(,)?) => {
        mod dynamodb {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                crate::on_fresh_table(|store| crate::suite::$test(store)).await;
            })*
        }
    };
}

conformance! {
    a_put_context_is_read_by_tenant_and_by_host,
    a_host_names_the_live_tenant_then_the_newest,
    get_many_returns_present_tenants_with_revisions,
    put_many_if_writes_only_at_the_expected_revision,
    delete_many_if_deletes_only_at_the_expected_revision,
    a_stale_writer_never_overwrites_a_newer_context,
    of_two_concurrent_writers_on_one_tenant_one_wins,
    all_lists_every_context_by_tenant_and_clear_empties_it,
    ping_answers,
}

/// A context of `tenant_id` whose JSON is about `bytes` long (its `site`
/// carries the bulk, different for each `seed`).
fn large(tenant_id: &str, sequence: i64, bytes: usize, seed: char) -> TenantContext {
    let mut large = context(tenant_id, sequence, Some("big.tenantry.test"));
    let pattern: String = format!("{seed}{tenant_id}-{sequence}-é-");
    large.state.site = Some(pattern.repeat(bytes / pattern.len() + 1));
    large
}

/// How many items the table holds for `tenant_id`.
async fn items_of(store: &DynamoContexts, tenant_id: &str) -> usize {
    let mut count = 0;
    let mut start = None;
    loop {
        // Counted page by page: a page stops at 1 MB of items read.
        let page = store
            .client()
            .query()
            .table_name(store.table())
            .consistent_read(true)
            .key_condition_expression("tenant_id = :t")
            .expression_attribute_values(":t", AttributeValue::S(tenant_id.to_owned()))
            .select(aws_sdk_dynamodb::types::Select::Count)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        count += page.count() as usize;
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return count;
        }
    }
}

/// Case K1: a context of about 1 MB (over DynamoDB's 400 KB item limit)
/// is split, read back whole by every read, and a shorter write removes
/// the chunks it no longer needs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_context_of_a_megabyte_round_trips_intact() {
    on_fresh_table(|store| async move {
        let big = large("t1", 1, 1_000_000, 'a');
        let json = serde_json::to_string(&big).unwrap();
        assert!(json.len() > 2 * CHUNK_BYTES, "{}", json.len());
        store.put(&big).await.unwrap();
        store.put(&context("t2", 1, None)).await.unwrap();
        assert_eq!(
            items_of(&store, "t1").await,
            json.len().div_ceil(CHUNK_BYTES)
        );
        let t1 = tenant("t1");
        assert_eq!(store.get(&t1).await.unwrap().as_ref(), Some(&big));
        assert_eq!(
            store
                .get_by_host("big.tenantry.test")
                .await
                .unwrap()
                .as_ref(),
            Some(&big)
        );
        let mut many = store.get_many(&[&t1]).await.unwrap();
        assert_eq!(many.remove(&t1), Some((big.clone(), 1)));
        let all = store.all().await.unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0], big);
        // Conditional write of a larger one, then a small one: the chunks
        // beyond are deleted.
        let bigger = large("t1", 2, 1_300_000, 'b');
        let written = store
            .put_many_if(&[(bigger.clone(), Some(1))])
            .await
            .unwrap();
        assert!(written.contains(&t1));
        assert_eq!(store.get(&t1).await.unwrap().as_ref(), Some(&bigger));
        let small = context("t1", 3, None);
        store
            .put_many_if(&[(small.clone(), Some(2))])
            .await
            .unwrap();
        assert_eq!(items_of(&store, "t1").await, 1);
        assert_eq!(
            store.get_many(&[&t1]).await.unwrap().remove(&t1),
            Some((small, 3))
        );
        assert_eq!(store.get_by_host("big.tenantry.test").await.unwrap(), None);
        assert_eq!(store.clear().await.unwrap(), 2);
        assert_eq!(items_of(&store, "t1").await, 0);
    })
    .await;
}

/// Case K1 under contention: two writers of ~1 MB contexts at the same
/// expected revision, round after round: exactly one wins, and what is
/// read is wholly the winner's context.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_concurrent_large_writers_one_wins_whole() {
    on_fresh_table(|store| async move {
        let t1 = tenant("t1");
        store.put(&large("t1", 1, 1_000_000, 'x')).await.unwrap();
        for round in 1..=5_i64 {
            let (_, read) = store.get_many(&[&t1]).await.unwrap().remove(&t1).unwrap();
            assert_eq!(read, round);
            let writers: Vec<_> = [('a', 900_000), ('b', 1_100_000)]
                .into_iter()
                .map(|(seed, bytes)| {
                    let store = Arc::clone(&store);
                    let mine = large("t1", round * 10 + bytes as i64 % 7, bytes, seed);
                    tokio::spawn(async move {
                        let written = store.put_many_if(&[(mine.clone(), Some(read))]).await;
                        (mine, written.unwrap().contains(&tenant("t1")))
                    })
                })
                .collect();
            let mut winners = Vec::new();
            for writer in writers {
                let (mine, won) = writer.await.unwrap();
                if won {
                    winners.push(mine);
                }
            }
            assert_eq!(winners.len(), 1, "round {round}");
            let winner = winners.remove(0);
            assert_eq!(
                store.get_many(&[&t1]).await.unwrap().remove(&t1),
                Some((winner.clone(), read + 1)),
                "round {round}"
            );
            let json = serde_json::to_string(&winner).unwrap();
            assert_eq!(
                items_of(&store, "t1").await,
                json.len().div_ceil(CHUNK_BYTES)
            );
        }
    })
    .await;
}

/// An item whose body is not a context, or whose chunk is gone, is
/// `Corrupt`, not `Unavailable`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_context_is_corrupt() {
    on_fresh_table(|store| async move {
        store
            .put(&context("t1", 1, Some("one.tenantry.test")))
            .await
            .unwrap();
        store
            .client()
            .update_item()
            .table_name(store.table())
            .key("tenant_id", AttributeValue::S("t1".into()))
            .key("part", AttributeValue::N("0".into()))
            .update_expression("SET body = :b")
            .expression_attribute_values(":b", AttributeValue::S("not json".into()))
            .send()
            .await
            .unwrap();
        let error = store.get(&tenant("t1")).await.unwrap_err();
        assert!(error.is_corrupt(), "{error:?}");
        let error = store.get_by_host("one.tenantry.test").await.unwrap_err();
        assert!(error.is_corrupt(), "{error:?}");
        // A chunk missing for good.
        store.put(&large("t2", 1, 800_000, 'c')).await.unwrap();
        store
            .client()
            .delete_item()
            .table_name(store.table())
            .key("tenant_id", AttributeValue::S("t2".into()))
            .key("part", AttributeValue::N("1".into()))
            .send()
            .await
            .unwrap();
        let error = store.get(&tenant("t2")).await.unwrap_err();
        assert!(error.is_corrupt(), "{error:?}");
    })
    .await;
}

/// A table that does not exist does not answer: `Unavailable`.
#[tokio::test]
async fn a_missing_table_is_unavailable() {
    let table = format!("tenantry-test-missing-{}", uuid::Uuid::new_v4());
    let store = DynamoContexts::new(DynamoConfig::from_env(table).unwrap());
    let error = store.ping().await.unwrap_err();
    assert!(!error.is_corrupt(), "{error:?}");
    let error = store.get(&tenant("t1")).await.unwrap_err();
    assert!(!error.is_corrupt(), "{error:?}");
}
