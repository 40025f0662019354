//! The walking skeleton on the local stack: a commerce event becomes a
//! provisioned tenant that edges can read, and `tenantry replay` rebuilds the
//! same context into an empty store.

use crate::support::{DOMAIN, Stack, fresh_database, wait_for_product};
use tenantry_store::{ContextStore, Store, product_db::ProductDatabases};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tenant_created_and_product_activated_become_a_readable_context() {
    let stack = Stack::start().await;
    stack
        .cli(&[
            "publish",
            "tenant_created",
            "--tenant",
            "t1",
            "--site",
            "acme",
            "--owner-email",
            "ada@acme.test",
            "--country",
            "DE",
            "--residency-pin",
            "eu",
            "--sequence",
            "1",
        ])
        .await;
    stack
        .cli(&[
            "publish",
            "product_activated",
            "--tenant",
            "t1",
            "--product",
            "jira",
            "--seats",
            "25",
            "--sequence",
            "2",
        ])
        .await;

    let context = wait_for_product(&stack.api, "t1", "jira", "active").await;
    let host = format!("acme.{DOMAIN}");
    assert_eq!(context["status"], "active");
    assert_eq!(context["site"]["name"], "acme");
    assert_eq!(context["site"]["host"], host.as_str());
    assert_eq!(context["region"]["code"], "eu");
    assert_eq!(context["region"]["pinned"], true);
    let jira = &context["products"]["jira"];
    assert_eq!(jira["licence"]["seats"], 25);
    assert_eq!(jira["licence"]["edition"], "standard");
    assert_eq!(jira["shard"], "eu-shard-1");
    let groups: Vec<&str> = context["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g.as_str())
        .collect();
    assert!(groups.contains(&"site-admins"), "{groups:?}");
    assert!(groups.contains(&"jira-users"), "{groups:?}");

    // The product database really exists in PostgreSQL.
    let database = jira["database"].as_str().expect("database name");
    let databases = ProductDatabases::PostgresSchemas(stack.store.pool().clone());
    assert!(
        databases.exists(database).await.unwrap(),
        "schema {database} exists"
    );

    // The same context by site host.
    let (status, by_host) = stack.get(&format!("/v1/sites/{host}/context")).await;
    assert_eq!(status, 200);
    assert_eq!(by_host, context);

    // Replay into an empty store equals the live projection.
    let replay_url = fresh_database().await;
    let mut env = stack.env();
    env.push(("TENANTRY_CONTEXT_DATABASE_URL", replay_url.clone()));
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let output = crate::support::tenantry(&["replay"], &env_refs).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        report.contains("1 tenant contexts rebuilt: 0 unchanged, 1 written"),
        "{report}"
    );
    let replayed = ContextStore::new(Store::connect(&replay_url, 2).await.unwrap());
    let tenant = tenantry_schemas::TenantId::parse("t1").unwrap();
    assert_eq!(
        replayed.get(&tenant).await.unwrap(),
        stack.contexts.get(&tenant).await.unwrap(),
        "replayed context equals the live one"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn taken_site_name_fails_the_saga_with_a_clear_reason() {
    let stack = Stack::start().await;
    let file = std::env::temp_dir().join(format!("tenantry-it-{}.jsonl", stack.suffix));
    std::fs::write(
        &file,
        "{\"kind\":\"tenant_created\",\"tenant_id\":\"t1\",\"sequence\":1,\"site\":\"acme\",\"owner_email\":\"a@acme.test\",\"country\":\"DE\"}\n\
         {\"kind\":\"tenant_created\",\"tenant_id\":\"t2\",\"sequence\":1,\"site\":\"acme\",\"owner_email\":\"b@acme.test\",\"country\":\"FR\"}\n",
    )
    .unwrap();
    stack
        .cli(&["publish", "--file", file.to_str().unwrap()])
        .await;
    // t1 and t2 are provisioned in parallel: whichever reaches step 2 first
    // gets the host; the other saga fails with the reason and is compensated.
    let (winner, loser, failed) = crate::support::wait_for(
        std::time::Duration::from_secs(60),
        "one of t1, t2 failed",
        || async {
            for (winner, loser) in [("t1", "t2"), ("t2", "t1")] {
                let (status, body) = stack.get(&format!("/v1/tenants/{loser}/context")).await;
                if status == 200 && body["status"] == "failed" {
                    return Some((winner, loser, body));
                }
            }
            None
        },
    )
    .await;
    let reason = failed["last_failure"].as_str().unwrap();
    assert!(
        reason.contains(&format!("acme.tenantry.test is taken by tenant {winner}")),
        "{reason}"
    );
    assert_eq!(
        failed["site"]["host"],
        serde_json::Value::Null,
        "{loser} has no host"
    );
    crate::support::wait_for(
        std::time::Duration::from_secs(60),
        "the winner active",
        || async {
            let (_, body) = stack.get(&format!("/v1/tenants/{winner}/context")).await;
            (body["status"] == "active").then_some(())
        },
    )
    .await;
    // The failed saga left no second site behind: the host maps to the winner.
    let (_, by_host) = stack.get("/v1/sites/acme.tenantry.test/context").await;
    assert_eq!(by_host["tenant_id"], winner);
    let (sites,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM sites")
        .fetch_one(stack.store.pool())
        .await
        .unwrap();
    assert_eq!(
        sites, 1,
        "compensation removed nothing of the winner's and left nothing of the loser's"
    );
    std::fs::remove_file(file).ok();
    stack.stop().await;
}
