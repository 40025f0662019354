//! Cases D1 and D6 under fire: the provisioner process is SIGKILLed at random
//! moments and started again, and still every effect happens exactly once.
//!
//! 300 tenants (`TENANTRY_CRASH_TENANTS`; by default at least 30 per kill, so
//! the work outlasts the kills), each `tenant_created` plus one or two
//! `product_activated`, are published to fresh topics; `tenantry provisioner`
//! runs as a child process on a fresh database. It is killed
//! `TENANTRY_CRASH_KILLS` times (default 10; the README's soak run uses 100).
//! Each incarnation is killed a random 50–400 ms after it has visibly begun
//! to work (an event recorded, a saga completed or an outbox row published
//! since it started), so every kill hits work in flight — the resume of
//! unfinished sagas, a step, the gap between a step and its persisted
//! transition, the outbox relay, offsets not yet committed — however slow
//! the machine is. After the last start the test waits (with a deadline)
//! until every tenant is provisioned, then checks every guarantee
//! (`guarantees.rs`) and prints a summary.
//!
//! **Restart pacing (tansu 0.6.0).** A restarted incarnation joins the
//! consumer group while the killed one is still a member (the broker drops a
//! member only after `session.timeout.ms`, 10 s, without heartbeats). Kafka
//! then rebalances once the dead member's session expires; tansu 0.6.0 does
//! not: it answers the newcomer with an empty assignment, drops the dead
//! leader ("missed heartbeat for leader …") and never starts another
//! rebalance, so the new incarnation consumes nothing, for good (seen for
//! more than 5 minutes). So when the killed incarnation had begun to join the
//! group, the next one starts only after the session timeout has passed
//! since the kill; one killed before it joined (in the resume of unfinished
//! sagas) is replaced at once. This paces the test (about 11 s per such
//! kill); it is no assertion.
//!
//! **A broker of its own.** The run uses a private tansu (same binary and
//! flags as the shared one, `PrivateBroker`), not the shared broker: the
//! shared one keeps every topic every test ever created (topics are never
//! deleted) and serves the other tests at the same time, and its fetches
//! have become slow — 5,000 single-record batches read back in 27 s from
//! the shared broker against 0.3 s from a fresh one, measured side by side —
//! which made each incarnation's start and the final read of the topic take
//! tens of seconds. The private broker's log (`tansu.log` in the run
//! directory) also records the group coordinator's decisions.
//!
//! `TENANTRY_CRASH_SEED` replays a run's random choices (tenants' products,
//! lifetimes); the summary prints the seed.

use crate::guarantees::assert_delivered_exactly_once;
use crate::progress::{Progress, wait_until_provisioned};
use crate::provisioner::{Deployment, Killed, Provisioner, SESSION_TIMEOUT};
use crate::workload::Workload;
use rand::{Rng, SeedableRng};
use sqlx::PgPool;
use std::time::{Duration, Instant};
use tenantry_integration_tests::tansu::PrivateBroker;
use tenantry_integration_tests::{RunDir, fresh_database, fresh_topics_on};

/// Margin over the session timeout before a restart (see the module doc).
const SESSION_MARGIN: Duration = Duration::from_millis(1000);

/// Deadline for the last incarnation to finish the work: 180 s plus 100 ms
/// per commerce event (a soak run with many kills has many tenants).
fn finish_timeout(workload: &Workload) -> Duration {
    Duration::from_secs(180) + Duration::from_millis(100) * workload.sagas() as u32
}

/// Deadline for a new incarnation to begin to work.
const WORK_TIMEOUT: Duration = Duration::from_secs(60);

/// Tenants per kill by default (see the module doc).
const TENANTS_PER_KILL: u64 = 30;

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
    killed: Killed,
    /// From spawn to its first visible work.
    startup: Duration,
    /// The work was not finished when the kill landed.
    mid_run: bool,
    before: Option<Progress>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d1_d6_sigkill_at_random_moments_loses_and_repeats_no_effect() {
    let kills = env_number("TENANTRY_CRASH_KILLS", 10) as usize;
    let tenants = env_number(
        "TENANTRY_CRASH_TENANTS",
        (kills as u64 * TENANTS_PER_KILL).max(300),
    ) as usize;
    let seed = env_number("TENANTRY_CRASH_SEED", rand::random());
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let run = RunDir::new("crash");
    let test_started = Instant::now();

    // A broker of its own (see the module doc), not the shared one.
    let broker = PrivateBroker::start(&run.file("tansu.log")).await;
    let (suffix, topics) = fresh_topics_on(&broker.bootstrap()).await;
    let deployment = Deployment {
        bootstrap: broker.bootstrap(),
        suffix,
        database_url: fresh_database().await,
    };
    let workload = Workload::generate(tenants, &mut rng);
    let env = deployment.env();
    workload
        .publish(
            0..workload.tenants.len(),
            &run.file("events.jsonl"),
            &Deployment::env_refs(&env),
        )
        .await;
    let pool = sqlx::PgPool::connect(&deployment.database_url)
        .await
        .expect("connect to the test database");

    let mut provisioner = Provisioner::new(&deployment, &run);
    let run_started = Instant::now();
    let mut record = Vec::with_capacity(kills);
    for n in 1..=kills {
        let at_start = Progress::read(&pool).await.ok();
        provisioner.start();
        let spawned = Instant::now();
        wait_for_work(
            &pool,
            &workload,
            &mut provisioner,
            at_start.as_ref(),
            n,
            kills,
        )
        .await;
        let startup = spawned.elapsed();
        let life = Duration::from_millis(rng.random_range(50..=400));
        tokio::time::sleep(life).await;
        let before = Progress::read(&pool).await.ok();
        let killed = provisioner.kill().await;
        let mid_run = !before.is_some_and(|p| p.finished(&workload));
        if killed.joined_group {
            tokio::time::sleep_until((killed.at + SESSION_TIMEOUT + SESSION_MARGIN).into()).await;
        }
        record.push(KillRecord {
            killed,
            startup,
            mid_run,
            before,
        });
    }
    provisioner.start();
    let kill_phase = run_started.elapsed();
    let at_last_start = Progress::read(&pool).await.ok();
    println!(
        "crash test (seed {seed}, logs {}): {} tenants, {} commerce events and sagas",
        run.path().display(),
        workload.tenants.len(),
        workload.sagas()
    );
    for (n, k) in record.iter().enumerate() {
        println!(
            "  kill {:>3}: incarnation {:>3} lived {:>5} ms (first work after {:>5} ms), \
             joined group {:<5}, before: {}",
            n + 1,
            k.killed.incarnation,
            k.killed.lived.as_millis(),
            k.startup.as_millis(),
            k.killed.joined_group,
            k.before
                .map_or("store not readable yet".into(), |p| p.to_string())
        );
    }
    println!(
        "  kills {kills} ({} mid-run) in {:.1} s; at the last start: {}",
        record.iter().filter(|k| k.mid_run).count(),
        kill_phase.as_secs_f64(),
        at_last_start.map_or("unknown".into(), |p| p.to_string()),
    );
    let late: Vec<usize> = record
        .iter()
        .enumerate()
        .filter(|(_, k)| !k.mid_run)
        .map(|(n, _)| n + 1)
        .collect();
    assert!(
        late.is_empty(),
        "kills {late:?} of {kills} landed after the work was done; the run is too short for \
         this many kills: raise TENANTRY_CRASH_TENANTS"
    );

    let finish = wait_until_provisioned(
        &pool,
        &workload,
        &mut provisioner,
        finish_timeout(&workload),
    )
    .await;
    println!(
        "  every tenant provisioned {:.1} s after the last start",
        finish.as_secs_f64()
    );
    assert_delivered_exactly_once(&pool, &deployment.bootstrap, &topics, &workload).await;
    let clean_exit = provisioner.stop().await;
    println!(
        "  guarantees hold; incarnations {}, run {:.1} s, test {:.1} s; \
         the last incarnation exited cleanly on SIGTERM: {clean_exit}",
        provisioner.incarnations(),
        run_started.elapsed().as_secs_f64(),
        test_started.elapsed().as_secs_f64()
    );
}

/// Waits until the incarnation just started does visible work (see
/// [`Progress::moved_since`]). Panics if the work is already all done (more
/// kills than work) or nothing moves within [`WORK_TIMEOUT`].
async fn wait_for_work(
    pool: &PgPool,
    workload: &Workload,
    provisioner: &mut Provisioner,
    at_start: Option<&Progress>,
    kill: usize,
    kills: usize,
) {
    let started = Instant::now();
    let mut last = None;
    while started.elapsed() < WORK_TIMEOUT {
        provisioner.assert_alive();
        if let Ok(progress) = Progress::read(pool).await {
            assert!(
                !progress.finished(workload),
                "the work was done before kill {kill} of {kills}; the run is too short for this \
                 many kills: raise TENANTRY_CRASH_TENANTS"
            );
            if progress.moved_since(at_start) {
                return;
            }
            last = Some(progress);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "incarnation {} did no visible work within {WORK_TIMEOUT:?} (before it: {at_start:?}, \
         now: {last:?}); {}",
        provisioner.incarnations(),
        provisioner.log_tail(20)
    );
}
