//! Case D4 and the sequence rule: a tenant whose saga fails is parked, its
//! later events wait, other tenants keep flowing, and an operator's retry or
//! skip releases the waiting events in order. Out-of-order commerce events
//! never regress state: stale ones are no-ops, a gap is held and reported.

use crate::support::{Stack, wait_for, wait_for_product};
use std::time::Duration;
use tenantry_integration_tests::tenantry;

/// `t1` active on site `acme`; then `tenant`, asking for the same site, is
/// created (its saga fails permanently: the host is taken) and gets a
/// `product_activated` of jira with `seats` at sequence 2.
async fn second_tenant_on_a_taken_site(stack: &Stack, tenant: &str, seats: &str) {
    stack.create_tenant("t1", "acme", "a@acme.test", "DE").await;
    wait_for(Duration::from_secs(60), "t1 active", || async {
        let (_, body) = stack.get("/v1/tenants/t1/context").await;
        (body["status"] == "active").then_some(())
    })
    .await;
    stack
        .create_tenant(tenant, "acme", "b@acme.test", "FR")
        .await;
    stack
        .cli(&[
            "publish",
            "product_activated",
            "--tenant",
            tenant,
            "--sequence",
            "2",
            "--product",
            "jira",
            "--seats",
            seats,
        ])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn d4_failed_tenant_is_parked_and_released_in_order_after_operator_retry() {
    let stack = Stack::start().await;
    // t4 asks for t1's site name: its tenant saga fails permanently.
    second_tenant_on_a_taken_site(&stack, "t4", "10").await;
    stack
        .cli(&[
            "publish",
            "licence_updated",
            "--tenant",
            "t4",
            "--sequence",
            "3",
            "--product",
            "jira",
            "--seats",
            "50",
        ])
        .await;
    // Another tenant keeps flowing meanwhile.
    stack
        .create_tenant("t7", "seven", "c@seven.test", "JP")
        .await;
    stack
        .cli(&[
            "publish",
            "product_activated",
            "--tenant",
            "t7",
            "--sequence",
            "2",
            "--product",
            "confluence",
            "--seats",
            "3",
        ])
        .await;
    wait_for_product(&stack.api, "t7", "confluence", "active").await;

    let listed = wait_for(
        Duration::from_secs(30),
        "t4 parked with 2 waiting",
        || async {
            let out = stack.cli(&["sagas", "list", "--parked"]).await;
            out.lines()
                .any(|l| {
                    l.starts_with("t4") && l.contains("saga_failed") && l.contains("waiting=2")
                })
                .then_some(out)
        },
    )
    .await;
    assert!(listed.contains("is taken by tenant t1"), "{listed}");
    let shown = stack.cli(&["sagas", "show", "t4"]).await;
    assert!(
        shown.contains(
            "events: 1 tenant_created processed, 2 product_activated waiting, 3 licence_updated waiting"
        ),
        "{shown}"
    );
    // The same, as JSON documents for scripts.
    let json = |out: String| -> serde_json::Value {
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("one JSON document: {e}: {out}"))
    };
    let parked = json(stack.cli(&["sagas", "list", "--parked", "--json"]).await);
    let t4 = parked
        .as_array()
        .and_then(|rows| rows.iter().find(|p| p["tenant_id"] == "t4"))
        .unwrap_or_else(|| panic!("t4 in {parked}"));
    assert_eq!(t4["kind"], "saga_failed", "{t4}");
    assert_eq!(t4["waiting"], 2, "{t4}");
    assert!(t4["parked_at_ms"].as_i64().unwrap() > 0, "{t4}");
    let unfinished = json(stack.cli(&["sagas", "list", "--json"]).await);
    let failed = unfinished
        .as_array()
        .and_then(|rows| rows.iter().find(|s| s["tenant_id"] == "t4"))
        .unwrap_or_else(|| panic!("t4's saga in {unfinished}"));
    assert_eq!(failed["kind"], "provision_tenant", "{failed}");
    assert!(failed["failure"].is_string(), "{failed}");
    let shown = json(stack.cli(&["sagas", "show", "t4", "--json"]).await);
    assert_eq!(shown["tenant_id"], "t4");
    assert_eq!(shown["sagas"][0]["saga_id"], failed["saga_id"]);
    assert_eq!(
        shown["events"],
        serde_json::json!([
            {"sequence": 1, "kind": "tenant_created", "state": "processed"},
            {"sequence": 2, "kind": "product_activated", "state": "waiting"},
            {"sequence": 3, "kind": "licence_updated", "state": "waiting"},
        ])
    );
    assert_eq!(shown["parked"]["waiting"], 2, "{shown}");
    assert_eq!(
        stack
            .count("SELECT COUNT(*) FROM sagas WHERE tenant_id = 't4'")
            .await,
        1,
        "no product saga started for a parked tenant"
    );

    // The operator frees the host name and retries.
    sqlx::query("DELETE FROM sites WHERE tenant_id = 't1'")
        .execute(stack.store.pool())
        .await
        .unwrap();
    let requested = stack.cli(&["sagas", "retry", "t4", "--json"]).await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&requested).unwrap(),
        serde_json::json!({"tenant_id": "t4", "action": "retry"})
    );
    let context = wait_for(Duration::from_secs(60), "t4 jira with 50 seats", || async {
        let (_, body) = stack.get("/v1/tenants/t4/context").await;
        (body["products"]["jira"]["state"] == "active"
            && body["products"]["jira"]["licence"]["seats"] == 50)
            .then_some(body)
    })
    .await;
    assert_eq!(context["status"], "active");
    assert_eq!(context["site"]["host"], "acme.tenantry.test");
    assert_eq!(stack.count("SELECT COUNT(*) FROM parked_tenants").await, 0);
    assert_eq!(
        stack
            .count("SELECT COUNT(*) FROM tenant_events WHERE state = 'waiting'")
            .await,
        0
    );

    // Asking again for a tenant that is not parked is a clear error.
    let env = stack.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let output = crate::support::tenantry(&["sagas", "retry", "t4"], &env).await;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("t4 is not parked"));
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sequence_gap_is_held_and_reported_and_stale_events_are_no_ops() {
    let stack = Stack::start().await;
    stack.create_tenant("t6", "six", "o@six.test", "IN").await;
    // Sequence 3 before 2: held.
    stack
        .cli(&[
            "publish",
            "licence_updated",
            "--tenant",
            "t6",
            "--sequence",
            "3",
            "--product",
            "jira",
            "--seats",
            "50",
        ])
        .await;
    wait_for(Duration::from_secs(30), "t6 gap reported", || async {
        let out = stack.cli(&["sagas", "list", "--parked"]).await;
        out.lines()
            .any(|l| {
                l.starts_with("t6")
                    && l.contains("sequence_gap")
                    && l.contains("waiting for commerce sequence 2")
            })
            .then_some(())
    })
    .await;
    stack
        .cli(&[
            "publish",
            "product_activated",
            "--tenant",
            "t6",
            "--sequence",
            "2",
            "--product",
            "jira",
            "--seats",
            "10",
        ])
        .await;
    wait_for(Duration::from_secs(60), "t6 jira active", || async {
        let (_, body) = stack.get("/v1/tenants/t6/context").await;
        (body["products"]["jira"]["state"] == "active"
            && body["products"]["jira"]["licence"]["seats"] == 50)
            .then_some(())
    })
    .await;
    assert_eq!(stack.count("SELECT COUNT(*) FROM parked_tenants").await, 0);
    // A late duplicate of sequence 2 (new event id) changes nothing.
    stack
        .cli(&[
            "publish",
            "product_activated",
            "--tenant",
            "t6",
            "--sequence",
            "2",
            "--product",
            "jira",
            "--seats",
            "99",
        ])
        .await;
    wait_for(Duration::from_secs(30), "stale event recorded", || async {
        (stack
            .count("SELECT COUNT(*) FROM tenant_events WHERE state = 'stale'")
            .await
            == 1)
            .then_some(())
    })
    .await;
    assert_eq!(
        stack
            .count("SELECT COUNT(*) FROM sagas WHERE tenant_id = 't6'")
            .await,
        3,
        "tenant, product, licence update; none for the stale event"
    );
    let (_, body) = stack.get("/v1/tenants/t6/context").await;
    assert_eq!(
        body["products"]["jira"]["licence"]["seats"], 50,
        "stale event did not regress the licence"
    );
    stack.stop().await;
}

/// A tenant with no saga yet — its only events were rejected, or wait behind
/// a gap — is still shown by `tenantry sagas show`: its events, rejections
/// and parking, which is what an operator looks for.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sagas_show_describes_a_tenant_that_has_no_saga() {
    let stack = Stack::start().await;
    // t8: created at sequence 2, so it waits for sequence 1.
    stack
        .publish(&[
            "tenant_created",
            "--tenant",
            "t8",
            "--sequence",
            "2",
            "--site",
            "eight",
            "--owner-email",
            "o@eight.test",
            "--country",
            "FR",
        ])
        .await;
    // t9: a product event for a tenant that was never created: rejected.
    stack
        .publish(&[
            "product_activated",
            "--tenant",
            "t9",
            "--sequence",
            "1",
            "--product",
            "jira",
            "--seats",
            "5",
        ])
        .await;
    // Until the provisioner has recorded the event, nothing is known of the
    // tenant and `sagas show` fails; poll without asserting success.
    let show = |tenant: &'static str| {
        let env = stack.env();
        async move {
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let output = tenantry(&["sagas", "show", tenant], &env).await;
            output
                .status
                .success()
                .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
        }
    };
    let shown = wait_for(Duration::from_secs(30), "t8 parked on its gap", || async {
        show("t8")
            .await
            .filter(|out| out.contains("parked (sequence_gap)"))
    })
    .await;
    assert!(shown.contains("no sagas for t8"), "{shown}");
    assert!(
        shown.contains("events: 2 tenant_created waiting"),
        "{shown}"
    );
    let shown = wait_for(Duration::from_secs(30), "t9 rejected", || async {
        show("t9")
            .await
            .filter(|out| out.contains("rejected: sequence 1 product_activated"))
    })
    .await;
    assert!(shown.contains("no sagas for t9"), "{shown}");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn skipping_a_gap_releases_the_waiting_events() {
    let stack = Stack::start().await;
    stack
        .create_tenant("t8", "eight", "o@eight.test", "KR")
        .await;
    stack
        .cli(&[
            "publish",
            "product_activated",
            "--tenant",
            "t8",
            "--sequence",
            "5",
            "--product",
            "jira",
            "--seats",
            "7",
        ])
        .await;
    wait_for(Duration::from_secs(30), "t8 parked", || async {
        (stack
            .count("SELECT COUNT(*) FROM parked_tenants WHERE tenant_id = 't8'")
            .await
            == 1)
            .then_some(())
    })
    .await;
    stack.cli(&["sagas", "skip", "t8"]).await;
    // The provisioner released sequence 5 past the gap; the projector, which
    // holds its fold to commerce order too, follows once the saga for 5 ran.
    wait_for(
        Duration::from_secs(60),
        "t8 product saga completed",
        || async {
            (stack
                .count("SELECT COUNT(*) FROM sagas WHERE tenant_id = 't8' AND status = 'completed'")
                .await
                == 2)
                .then_some(())
        },
    )
    .await;
    assert_eq!(stack.count("SELECT COUNT(*) FROM parked_tenants").await, 0);
    let context = wait_for_product(&stack.api, "t8", "jira", "active").await;
    assert_eq!(context["products"]["jira"]["licence"]["seats"], 7);
    stack.stop().await;
}

/// Case D4 with `skip`: skipping a failed tenant creation gives the creation
/// up for good. The events that waited behind it are released and rejected
/// with that reason (before the fix, the first of them planned the same
/// creation again, which failed the same way and parked the tenant again),
/// and a new `tenant_created` with a free site name then provisions the
/// tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn skipping_a_failed_creation_gives_it_up_and_a_new_creation_provisions() {
    let stack = Stack::start().await;
    second_tenant_on_a_taken_site(&stack, "t5", "10").await;
    wait_for(
        Duration::from_secs(30),
        "t5 parked with 1 waiting",
        || async {
            let out = stack.cli(&["sagas", "list", "--parked"]).await;
            out.lines()
                .any(|l| l.starts_with("t5") && l.contains("waiting=1"))
                .then_some(())
        },
    )
    .await;

    stack.cli(&["sagas", "skip", "t5"]).await;
    stack
        .until(
            "both t5 events rejected",
            "SELECT COUNT(*) FROM rejections WHERE tenant_id = 't5'",
            2,
        )
        .await;
    let shown = stack.cli(&["sagas", "show", "t5"]).await;
    assert!(
        shown.contains("rejected: sequence 1 tenant_created: skipped by an operator: tenant creation (sequence 1) given up; the saga failed: step 2 create_site: site host acme.tenantry.test is taken"),
        "{shown}"
    );
    assert!(
        shown.contains("rejected: sequence 2 product_activated: tenant t5 is unknown: its tenant_created failed to provision and an operator skipped it"),
        "{shown}"
    );
    assert!(!shown.contains("parked"), "{shown}");
    assert_eq!(
        stack
            .count("SELECT COUNT(*) FROM sagas WHERE tenant_id = 't5'")
            .await,
        1,
        "the skipped creation is not planned again"
    );

    // Commerce tries again with a free site name.
    stack
        .cli(&[
            "publish",
            "tenant_created",
            "--tenant",
            "t5",
            "--sequence",
            "3",
            "--site",
            "acme-five",
            "--owner-email",
            "b@acme.test",
            "--country",
            "FR",
        ])
        .await;
    stack
        .until(
            "t5's new creation completed",
            "SELECT COUNT(*) FROM sagas WHERE tenant_id = 't5' AND status = 'completed'",
            1,
        )
        .await;
    assert_eq!(
        stack
            .count("SELECT COUNT(*) FROM sites WHERE tenant_id = 't5' AND host = 'acme-five.tenantry.test'")
            .await,
        1,
        "t5 has the site it asked for the second time"
    );
    assert_eq!(stack.count("SELECT COUNT(*) FROM parked_tenants").await, 0);
    stack.stop().await;
}
