//! Cases D1, D2 and D6 under fire: three `tenantry provisioner` processes
//! share one consumer group, one database and one outbox; one of them,
//! chosen at random, is SIGKILLed at a random moment and started again, over
//! and over, and still every effect happens exactly once.
//!
//! Each member joins the group as a static member (`TENANTRY_INSTANCE_ID`,
//! KIP-345) under a name it keeps across incarnations, so a restarted member
//! takes its partitions back without a rebalance; the two others keep
//! consuming, relaying the shared outbox and resuming unfinished sagas
//! meanwhile. Kills happen `TENANTRY_CRASH_KILLS` times (default 6; the
//! README gives the command for 100).
//!
//! **Pacing.** The work is sized from the kills, not fixed: before each kill
//! a chunk of tenants (each `tenant_created` plus one or two
//! `product_activated`) starts to be published in the background with
//! `tenantry publish --file`; the fleet must visibly work, then after a
//! random 50–400 ms one member is killed — but only if work is still in
//! flight (the chunk is still being published, or not all is provisioned).
//! When the fleet has already finished everything (a fast machine), no kill
//! happens, the next chunk is twice as large and the attempt is made again,
//! so every kill
//! hits work in flight (the resume of unfinished sagas, a step, the gap
//! between a step and its persisted transition, the outbox relay, offsets
//! not yet committed) on any machine, and the documented soak works as
//! written. After the last kill the test waits (with a deadline) until every
//! tenant is provisioned, then checks every guarantee (`guarantees.rs`) and
//! prints a summary.
//!
//! **A broker of its own.** The run uses a private single-node Kafka
//! (`PrivateKafka`), so its group coordinator and log serve this test alone
//! (`kafka.log` in the run directory).
//!
//! `TENANTRY_CRASH_SEED` replays a run's random choices (tenants' products,
//! which member dies, lifetimes); the summary prints the seed.

use crate::guarantees::assert_delivered_exactly_once;
use crate::progress::{Progress, wait_until_provisioned};
use crate::provisioner::{Deployment, Killed, Provisioner};
use crate::workload::Workload;
use rand::{Rng, SeedableRng};
use sqlx::PgPool;
use std::ops::Range;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tenantry_integration_tests::kafka::PrivateKafka;
use tenantry_integration_tests::{RunDir, fresh_database, fresh_topics_on};
use tokio::task::JoinHandle;

/// Provisioner processes in the consumer group.
const MEMBERS: [&str; 3] = ["p1", "p2", "p3"];

/// Tenants in the first chunk; a chunk the fleet finished before the kill
/// makes the next one twice as large (see the module doc).
const FIRST_CHUNK: usize = 20;

/// Deadline for the fleet to finish the work after the last kill: 180 s
/// plus 100 ms per commerce event.
fn finish_timeout(workload: &Workload) -> Duration {
    Duration::from_secs(180) + Duration::from_millis(100) * workload.sagas() as u32
}

/// Deadline for a new chunk to be visibly worked on.
const WORK_TIMEOUT: Duration = Duration::from_secs(60);

/// Attempts at most per kill before the test gives up: the chunk doubles at
/// each, so 12 is a chunk 4,096 times the first.
const ATTEMPTS_PER_KILL: u32 = 12;

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
        Err(_) => default,
    }
}

/// One kill, as the summary shows it.
struct KillRecord {
    member: &'static str,
    killed: Killed,
    /// Tenants published when it landed.
    tenants: usize,
    before: Progress,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d1_d2_d6_three_provisioners_sigkilled_at_random_lose_and_repeat_no_effect() {
    let kills = env_number("TENANTRY_CRASH_KILLS", 6) as usize;
    let seed = env_number("TENANTRY_CRASH_SEED", rand::random());
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let run = RunDir::new("crash");
    let test_started = Instant::now();

    let broker = PrivateKafka::single(&run.file("kafka.log")).await;
    let (suffix, topics) = fresh_topics_on(&broker.bootstrap()).await;
    let deployment = Deployment {
        bootstrap: broker.bootstrap(),
        suffix,
        database_url: fresh_database().await,
    };
    let env = deployment.env();
    let mut workload = Workload::default();
    let mut chunk = FIRST_CHUNK;
    let mut publishing: Vec<JoinHandle<()>> = Vec::new();
    let pool = sqlx::PgPool::connect(&deployment.database_url)
        .await
        .expect("connect to the test database");

    let mut fleet: Vec<Provisioner> = MEMBERS
        .iter()
        .map(|name| Provisioner::member(&deployment, &run, name))
        .collect();
    for member in &mut fleet {
        member.start();
    }
    let run_started = Instant::now();
    let mut record: Vec<KillRecord> = Vec::with_capacity(kills);
    let mut finished_early = 0;
    while record.len() < kills {
        let at_start = Progress::read(&pool).await.ok();
        let range = workload.extend(chunk, &mut rng);
        let file = run.file(&format!("chunk-{:03}.jsonl", publishing.len() + 1));
        publishing.push(publish_in_background(&workload, range, file, &env));
        wait_for_work(&pool, &mut fleet, at_start.as_ref()).await;
        tokio::time::sleep(Duration::from_millis(rng.random_range(50..=400))).await;
        let before = Progress::read(&pool).await.expect("store readable");
        let still_publishing = publishing.last().is_some_and(|p| !p.is_finished());
        if !still_publishing && before.finished(&workload) {
            // Everything is done: the kill would hit an idle fleet. Twice as
            // much work next time, and try again.
            finished_early += 1;
            assert!(
                finished_early < ATTEMPTS_PER_KILL * kills as u32,
                "the fleet finished every chunk before its kill {finished_early} times; \
                 chunks of {chunk} tenants are still too small"
            );
            chunk *= 2;
            continue;
        }
        let index = rng.random_range(0..fleet.len());
        let killed = fleet[index].kill().await;
        fleet[index].start();
        record.push(KillRecord {
            member: MEMBERS[index],
            killed,
            tenants: workload.tenants.len(),
            before,
        });
    }
    let chunks = publishing.len();
    for chunk in publishing {
        chunk.await.expect("publishing a chunk");
    }
    let kill_phase = run_started.elapsed();
    println!(
        "crash test (seed {seed}, logs {}): {} provisioners, {} tenants in {chunks} chunks \
         (last {chunk}), {} commerce events and sagas",
        run.path().display(),
        fleet.len(),
        workload.tenants.len(),
        workload.sagas()
    );
    for (n, k) in record.iter().enumerate() {
        println!(
            "  kill {:>3}: {} incarnation {:>3} lived {:>6} ms, {:>5} tenants published, \
             before: {}",
            n + 1,
            k.member,
            k.killed.incarnation,
            k.killed.lived.as_millis(),
            k.tenants,
            k.before
        );
    }
    println!(
        "  {kills} kills, all mid-run, in {:.1} s ({finished_early} attempts found the work \
         done and grew the chunk)",
        kill_phase.as_secs_f64(),
    );

    let finish =
        wait_until_provisioned(&pool, &workload, &mut fleet, finish_timeout(&workload)).await;
    println!(
        "  every tenant provisioned {:.1} s after the last kill",
        finish.as_secs_f64()
    );
    assert_delivered_exactly_once(&pool, &deployment.bootstrap, &topics, &workload).await;
    let mut clean = Vec::new();
    for member in &mut fleet {
        clean.push(member.stop().await);
    }
    let incarnations: u32 = fleet.iter().map(Provisioner::incarnations).sum();
    println!(
        "  guarantees hold; incarnations {incarnations}, run {:.1} s, test {:.1} s; \
         members exited cleanly on SIGTERM: {clean:?}",
        run_started.elapsed().as_secs_f64(),
        test_started.elapsed().as_secs_f64()
    );
}

/// Publishes `workload.tenants[range]` with `tenantry publish --file <file>`
/// on a task of its own; the handle panics (when awaited) if the CLI fails.
fn publish_in_background(
    workload: &Workload,
    range: Range<usize>,
    file: PathBuf,
    env: &[(&'static str, String)],
) -> JoinHandle<()> {
    let chunk = Workload {
        tenants: workload.tenants[range].to_vec(),
    };
    let env = env.to_vec();
    tokio::spawn(async move {
        let env = Deployment::env_refs(&env);
        chunk.publish(0..chunk.tenants.len(), &file, &env).await;
    })
}

/// Waits until the store shows work done since `at_start` (see
/// [`Progress::moved_since`]), checking that every member is alive. Panics
/// if nothing moves within [`WORK_TIMEOUT`].
async fn wait_for_work(pool: &PgPool, fleet: &mut [Provisioner], at_start: Option<&Progress>) {
    let started = Instant::now();
    let mut last = None;
    while started.elapsed() < WORK_TIMEOUT {
        for member in fleet.iter_mut() {
            member.assert_alive();
        }
        if let Ok(progress) = Progress::read(pool).await {
            if progress.moved_since(at_start) {
                return;
            }
            last = Some(progress);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let logs: Vec<String> = fleet.iter().map(|p| p.log_tail(20)).collect();
    panic!(
        "the fleet did no visible work within {WORK_TIMEOUT:?} (before: {at_start:?}, now: \
         {last:?});\n{}",
        logs.join("\n")
    );
}
