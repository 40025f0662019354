//! The same walking-skeleton scenario through `tenantry dev` (embedded broker
//! and SQLite), driven from outside with `tenantry publish` and HTTP.

use crate::support::{get_json, tenantry, tenantry_bin, wait_for_product};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_mode_provisions_a_tenant_readable_over_http() {
    let mut child = tokio::process::Command::new(tenantry_bin())
        .args(["dev", "--listen", "127.0.0.1:0"])
        .env_remove("TENANTRY_BOOTSTRAP")
        .env_remove("TENANTRY_DATABASE_URL")
        .env_remove("TENANTRY_TOPIC_SUFFIX")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("tenantry dev starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut bootstrap, mut api) = (None, None);
    // The "Try:" lines: the commands a newcomer copies, as printed.
    let mut tries: Vec<String> = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(value) = line.trim().strip_prefix("Kafka bootstrap:") {
                bootstrap = Some(value.trim().to_owned());
            }
            if let Some(value) = line.trim().strip_prefix("Context API:") {
                api = Some(value.trim().to_owned());
            }
            if line.starts_with("  ") && !tries.is_empty() || line == "Try:" {
                tries.push(line.trim().to_owned());
                if tries.len() == 4 {
                    break;
                }
            }
        }
    })
    .await
    .expect("dev prints its addresses and what to try");
    let (bootstrap, api) = (bootstrap.unwrap(), api.unwrap());
    let env = [("TENANTRY_BOOTSTRAP", bootstrap.as_str())];
    for args in [
        &[
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
        ][..],
        &[
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
        ][..],
    ] {
        let output = tenantry(args, &env).await;
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let context = wait_for_product(&api, "t1", "jira", "active").await;
    assert_eq!(context["site"]["host"], "acme.tenantry.test");
    assert_eq!(context["region"]["code"], "eu");
    assert_eq!(context["region"]["pinned"], true);
    assert_eq!(context["products"]["jira"]["licence"]["seats"], 25);
    assert!(context["products"]["jira"]["database"].is_string());
    assert!(
        context["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g == "site-admins")
    );
    let (status, by_host) = get_json(&format!("{api}/v1/sites/acme.tenantry.test/context")).await;
    assert_eq!(status, 200);
    assert_eq!(by_host, context);
    let (status, missing) = get_json(&format!("{api}/v1/tenants/nobody/context")).await;
    assert_eq!(status, 404);
    assert!(missing["error"].is_object());

    // The printed publish (with --wait) and sagas lines work as printed.
    for printed in [&tries[1], &tries[3]] {
        let words: Vec<&str> = printed
            .split('#')
            .next()
            .unwrap()
            .split_whitespace()
            .skip(1)
            .collect();
        let output = tenantry(&words, &[]).await;
        assert!(
            output.status.success(),
            "{printed}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    child.kill().await.ok();
}
