//! One conformance suite for every implementation of the tenant context
//! store port ([`tenantry_sagas::TenantContexts`]): each test is a
//! function taking the store as `Arc<dyn TenantContexts>` (as the projector
//! and the context API hold it), run against PostgreSQL (the local stack's
//! server, a fresh database per test), SQLite (a temporary file) and memory
//! ([`tenantry_store::memory::MemoryContexts`]); `infra/dynamodb/tests/contexts.rs`
//! runs the same functions (`suite.rs`, `fixtures.rs`, included by path)
//! against DynamoDB. A new implementation is correct when it passes here.

mod fixtures;
mod harness;
#[path = "../common/scratch.rs"]
mod scratch;
#[path = "../common/stores.rs"]
mod stores;
mod suite;

harness::conformance! {
    suite::a_put_context_is_read_by_tenant_and_by_host,
    suite::a_host_names_the_live_tenant_then_the_newest,
    suite::get_many_returns_present_tenants_with_revisions,
    suite::put_many_if_writes_only_at_the_expected_revision,
    suite::delete_many_if_deletes_only_at_the_expected_revision,
    suite::a_stale_writer_never_overwrites_a_newer_context,
    suite::of_two_concurrent_writers_on_one_tenant_one_wins,
    suite::all_lists_every_context_by_tenant_and_clear_empties_it,
    suite::ping_answers,
}

/// What only the SQL store does: report a closed pool and an undecodable
/// document as the port's errors.
mod sql {
    use crate::fixtures::{context, tenant};
    use crate::harness::{Postgres, Sqlite};
    use tenantry_sagas::{ContextsError, TenantContexts};
    use tenantry_store::{ContextStore, Store};

    async fn a_closed_store_does_not_answer(store: Store) {
        let contexts = ContextStore::new(store.clone());
        TenantContexts::ping(&contexts).await.unwrap();
        store.pool().close().await;
        let error = TenantContexts::ping(&contexts).await.unwrap_err();
        assert!(matches!(error, ContextsError::Unavailable(_)), "{error:?}");
    }

    async fn an_undecodable_context_is_corrupt(store: Store) {
        let contexts = ContextStore::new(store.clone());
        TenantContexts::put(&contexts, &context("t1", 1, Some("one.test")))
            .await
            .unwrap();
        sqlx::query("UPDATE tenant_contexts SET context = 'not json'")
            .execute(store.pool())
            .await
            .unwrap();
        let error = TenantContexts::get(&contexts, &tenant("t1"))
            .await
            .unwrap_err();
        assert!(error.is_corrupt(), "{error:?}");
        let error = TenantContexts::get_by_host(&contexts, "one.test")
            .await
            .unwrap_err();
        assert!(error.is_corrupt(), "{error:?}");
    }

    #[tokio::test]
    async fn postgres_closed_store_does_not_answer() {
        let backend = Postgres::new("contexts").await;
        a_closed_store_does_not_answer(backend.store.clone()).await;
    }

    #[tokio::test]
    async fn sqlite_closed_store_does_not_answer() {
        let backend = Sqlite::new().await;
        a_closed_store_does_not_answer(backend.store.clone()).await;
    }

    #[tokio::test]
    async fn postgres_undecodable_context_is_corrupt() {
        let backend = Postgres::new("contexts").await;
        an_undecodable_context_is_corrupt(backend.store.clone()).await;
    }

    #[tokio::test]
    async fn sqlite_undecodable_context_is_corrupt() {
        let backend = Sqlite::new().await;
        an_undecodable_context_is_corrupt(backend.store.clone()).await;
    }
}
