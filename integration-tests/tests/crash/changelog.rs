//! The tenant context changelog under fire: `tenantry projector` SIGKILLed
//! at random moments while tenants are provisioned, restarted each time.
//! Afterwards the changelog, read from the start, holds every context
//! version in order per tenant, none skipped, and its last versions are
//! the context store's (`tenantry_integration_tests::changelog`).

use crate::progress::wait_until_provisioned;
use crate::provisioner::{Deployment, Provisioner};
use crate::workload::Workload;
use rand::{Rng, SeedableRng};
use std::time::Duration;
use tenantry_integration_tests::changelog::assert_converges;
use tenantry_integration_tests::{RunDir, bootstrap, fresh_database, fresh_topics};
use tenantry_kafka::KafkaConfig;
use tenantry_schemas::TenantId;
use tenantry_store::{ContextStore, Store};

/// Tenants, published in this many chunks, a kill of the projector after each.
const TENANTS: usize = 60;
const CHUNKS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_projector_sigkilled_mid_run_leaves_a_changelog_that_converges_to_the_store() {
    let seed: u64 = std::env::var("TENANTRY_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let run = RunDir::new("crash-changelog");
    let (suffix, topics) = fresh_topics().await;
    let deployment = Deployment {
        bootstrap: bootstrap(),
        suffix,
        database_url: fresh_database().await,
    };
    let env = deployment.env();
    let env_refs = Deployment::env_refs(&env);
    let mut provisioner = Provisioner::new(&deployment, &run);
    let mut projector = Provisioner::projector(&deployment, &run);
    provisioner.start();
    projector.start();

    let mut workload = Workload::default();
    let mut kills = 0;
    for chunk in 0..CHUNKS {
        let range = workload.extend(TENANTS / CHUNKS, &mut rng);
        let file = run.file(&format!("chunk-{chunk}.jsonl"));
        workload.publish(range, &file, &env_refs).await;
        tokio::time::sleep(Duration::from_millis(rng.random_range(100..=600))).await;
        projector.kill().await;
        kills += 1;
        projector.start();
    }
    let pool = sqlx::PgPool::connect(&deployment.database_url)
        .await
        .expect("connect to the test database");
    wait_until_provisioned(
        &pool,
        &workload,
        std::slice::from_mut(&mut provisioner),
        Duration::from_secs(180),
    )
    .await;

    // The projector catches up: every tenant's context shows its products.
    let store = ContextStore::new(
        Store::connect(&deployment.database_url, 2)
            .await
            .expect("store"),
    );
    let tenants: Vec<TenantId> = workload
        .tenants
        .iter()
        .map(|t| TenantId::parse(&t.id).expect("tenant id"))
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        projector.assert_alive();
        let wanted: Vec<&TenantId> = tenants.iter().collect();
        let caught_up = store.get_many(&wanted).await.is_ok_and(|stored| {
            workload.tenants.iter().zip(&tenants).all(|(tenant, id)| {
                stored.get(id).is_some_and(|(context, _)| {
                    let json = serde_json::to_value(context).expect("context as JSON");
                    tenant
                        .products
                        .iter()
                        .all(|p| json["products"][*p]["state"] == "active")
                })
            })
        });
        if caught_up {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the projector did not catch up within 120 s; {}",
            projector.log_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        projector.stop().await,
        "the projector exits cleanly on SIGTERM"
    );
    provisioner.stop().await;

    let report = assert_converges(
        &KafkaConfig::new(bootstrap(), "it-crash-changelog"),
        &topics.changelog,
        &store,
        &tenants,
    )
    .await;
    assert_eq!(report.tenants, tenants.len(), "{report:?}");
    println!(
        "changelog after {kills} projector kills (seed {seed}): {} records for {} tenants, \
         {} repeated a version",
        report.records, report.tenants, report.repeated
    );
}
