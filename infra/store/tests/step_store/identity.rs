//! [`IdentityRows`]: groups, grants and members.

use super::*;

async fn permissions(store: &Store, group: &str) -> Vec<String> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT permission FROM identity_group_permissions WHERE tenant_id = $1 AND group_name = $2 \
         ORDER BY permission",
    )
    .bind("t1")
    .bind(group)
    .fetch_all(store.pool())
    .await
    .unwrap();
    rows.into_iter().map(|(p,)| p).collect()
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

pub(crate) async fn grants_and_members_accumulate_until_their_group_is_deleted(store: &Store) {
    let (t1, t2) = (tenant("t1"), tenant("t2"));
    let mut work = begin(store).await;
    for user in ["u1", "u2", "u3"] {
        work.insert_user(&t1, user, &format!("{user}@t1.test"))
            .await
            .unwrap();
    }
    work.insert_user(&t1, "u1", "again@t1.test").await.unwrap();
    work.insert_group(&t1, "site-admins").await.unwrap();
    work.insert_group(&t1, "site-admins").await.unwrap();
    work.insert_group(&t1, "crm-users").await.unwrap();
    work.insert_group(&t2, "other").await.unwrap();
    work.grant(&t1, "site-admins", &strings(&["site:admin", "site:read"]))
        .await
        .unwrap();
    work.grant(&t1, "site-admins", &strings(&["site:read", "site:write"]))
        .await
        .unwrap();
    work.grant(&t1, "site-admins", &[]).await.unwrap();
    work.grant(&t1, "crm-users", &strings(&["crm:use"]))
        .await
        .unwrap();
    work.add_members(&t1, "site-admins", &strings(&["u2", "u1"]))
        .await
        .unwrap();
    work.add_members(&t1, "site-admins", &strings(&["u1"]))
        .await
        .unwrap();
    work.add_members(&t1, "site-admins", &[]).await.unwrap();
    work.add_members(&t1, "crm-users", &strings(&["u3"]))
        .await
        .unwrap();
    work.revoke(&t1, "site-admins", "site:write").await.unwrap();
    work.revoke(&t1, "site-admins", "site:write").await.unwrap();
    work.commit().await.unwrap();

    assert_eq!(
        permissions(store, "site-admins").await,
        strings(&["site:admin", "site:read"])
    );
    let mut work = begin(store).await;
    assert_eq!(
        work.members(&t1, "site-admins").await.unwrap(),
        strings(&["u1", "u2"])
    );
    assert_eq!(
        work.groups(&t1).await.unwrap(),
        BTreeSet::from(["crm-users".to_owned(), "site-admins".to_owned()])
    );
    work.delete_group(&t1, "crm-users").await.unwrap();
    work.delete_group(&t1, "crm-users").await.unwrap();
    work.commit().await.unwrap();

    let mut work = begin(store).await;
    assert_eq!(
        work.groups(&t1).await.unwrap(),
        BTreeSet::from(["site-admins".to_owned()])
    );
    assert!(work.members(&t1, "crm-users").await.unwrap().is_empty());
    assert_eq!(
        work.members(&t1, "site-admins").await.unwrap(),
        strings(&["u1", "u2"])
    );
    work.commit().await.unwrap();
    assert!(permissions(store, "crm-users").await.is_empty());
    assert_eq!(
        permissions(store, "site-admins").await,
        strings(&["site:admin", "site:read"])
    );
    let mut work = begin(store).await;
    work.delete_identity(&t1).await.unwrap();
    work.commit().await.unwrap();
    assert!(permissions(store, "site-admins").await.is_empty());
    assert_eq!(
        count(
            store,
            "SELECT COUNT(*) FROM identity_users WHERE tenant_id = $1",
            &["t1"]
        )
        .await,
        0
    );
    let mut work = begin(store).await;
    assert_eq!(
        work.groups(&t2).await.unwrap(),
        BTreeSet::from(["other".to_owned()])
    );
}
