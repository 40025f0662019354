//! [`TenantRows`]: sites and released hosts, placements, licences.

use super::*;

pub(crate) async fn a_host_and_a_tenant_take_one_site(store: &Store) {
    let (t1, t2) = (tenant("t1"), tenant("t2"));
    let mut work = begin(store).await;
    assert!(work.insert_site("acme.test", &t1, "acme").await.unwrap());
    // The same host again, for its owner or another tenant.
    assert!(!work.insert_site("acme.test", &t1, "acme").await.unwrap());
    assert!(!work.insert_site("acme.test", &t2, "acme").await.unwrap());
    // A second site of the same tenant.
    assert!(!work.insert_site("other.test", &t1, "other").await.unwrap());
    work.commit().await.unwrap();

    let mut work = begin(store).await;
    assert_eq!(
        work.site_host(&t1).await.unwrap().as_deref(),
        Some("acme.test")
    );
    assert_eq!(work.site_host(&t2).await.unwrap(), None);
    assert_eq!(
        work.host_owner("acme.test").await.unwrap(),
        Some(t1.clone())
    );
    assert_eq!(work.host_owner("other.test").await.unwrap(), None);
    work.delete_site(&t1).await.unwrap();
    assert!(work.insert_site("other.test", &t1, "other").await.unwrap());
    work.commit().await.unwrap();

    assert_eq!(
        count(
            store,
            "SELECT COUNT(*) FROM sites WHERE tenant_id = $1",
            &["t1"]
        )
        .await,
        1
    );
    let mut work = begin(store).await;
    assert_eq!(work.host_owner("acme.test").await.unwrap(), None);
}

pub(crate) async fn a_released_host_is_recorded_until_reclaimed(store: &Store) {
    let (t1, t2) = (tenant("t1"), tenant("t2"));
    let mut work = begin(store).await;
    assert_eq!(work.released_host("acme.test").await.unwrap(), None);
    work.release_host("acme.test", &t1, 1_000, 5_000)
        .await
        .unwrap();
    // A second release replaces the first.
    work.release_host("acme.test", &t2, 2_000, 9_000)
        .await
        .unwrap();
    work.commit().await.unwrap();

    let mut work = begin(store).await;
    let released = work.released_host("acme.test").await.unwrap().unwrap();
    assert_eq!(released.tenant_id, t2);
    assert_eq!(released.reusable_after_ms, 9_000);
    work.reclaim_host("acme.test").await.unwrap();
    work.reclaim_host("acme.test").await.unwrap();
    work.commit().await.unwrap();

    let mut work = begin(store).await;
    assert_eq!(work.released_host("acme.test").await.unwrap(), None);
}

pub(crate) async fn a_first_placement_is_kept_until_set(store: &Store) {
    let t1 = tenant("t1");
    let mut work = begin(store).await;
    assert_eq!(work.placement(&t1).await.unwrap(), None);
    work.insert_placement(&t1, Region::Eu, false).await.unwrap();
    work.insert_placement(&t1, Region::De, true).await.unwrap();
    work.commit().await.unwrap();

    let mut work = begin(store).await;
    assert_eq!(
        work.placement(&t1).await.unwrap(),
        Some((Region::Eu, false))
    );
    work.set_placement(&t1, Region::De, true).await.unwrap();
    work.commit().await.unwrap();

    let mut work = begin(store).await;
    assert_eq!(work.placement(&t1).await.unwrap(), Some((Region::De, true)));
    work.delete_placement(&t1).await.unwrap();
    work.delete_placement(&t1).await.unwrap();
    assert_eq!(work.placement(&t1).await.unwrap(), None);
}

pub(crate) async fn a_licence_is_put_updated_and_deleted(store: &Store) {
    let (t1, crm) = (tenant("t1"), product("crm"));
    let standard = LicenceRow {
        edition: "standard".into(),
        seats: 10,
    };
    let premium = LicenceRow {
        edition: "premium".into(),
        seats: 3,
    };
    let mut work = begin(store).await;
    assert_eq!(work.licence(&t1, &crm).await.unwrap(), None);
    // Updating a missing licence writes nothing.
    work.update_licence(&t1, &crm, &premium, true)
        .await
        .unwrap();
    assert_eq!(work.licence(&t1, &crm).await.unwrap(), None);
    work.put_licence(&t1, &crm, &premium).await.unwrap();
    work.put_licence(&t1, &crm, &standard).await.unwrap();
    assert_eq!(work.licence(&t1, &crm).await.unwrap(), Some(standard));
    work.update_licence(&t1, &crm, &premium, true)
        .await
        .unwrap();
    work.commit().await.unwrap();

    let over = "SELECT COUNT(*) FROM licences WHERE tenant_id = $1 AND over_licence = 1";
    assert_eq!(count(store, over, &["t1"]).await, 1);
    let mut work = begin(store).await;
    assert_eq!(
        work.licence(&t1, &crm).await.unwrap(),
        Some(premium.clone())
    );
    work.update_licence(&t1, &crm, &premium, false)
        .await
        .unwrap();
    work.commit().await.unwrap();
    assert_eq!(count(store, over, &["t1"]).await, 0);

    let mut work = begin(store).await;
    work.delete_licence(&t1, &crm).await.unwrap();
    work.delete_licence(&t1, &crm).await.unwrap();
    assert_eq!(work.licence(&t1, &crm).await.unwrap(), None);
}
