//! The infrastructure goes away mid-run and comes back; the guarantees hold.
//!
//! Each test runs 50 tenants in waves: the first is published before the
//! provisioner starts, each outage hits while it works on a wave (the test
//! waits until some of the wave's sagas completed, not all), and a later wave
//! arrives around an outage (after the broker is back; while the database is
//! away). Shared infrastructure is never touched — other tests
//! use it concurrently — so each test takes away only a server of its own:
//!
//! - **Kafka broker**: a private single-node Kafka ([`PrivateKafka`]) on free
//!   ports, SIGKILLed twice mid-run (no controlled shutdown: the broker
//!   recovers its logs at the next start) and restarted on the same ports
//!   and data.
//!   The provisioner's consumer, producer (relay) and dead-letter producer
//!   must ride through it; the database stays up, so sagas keep running and
//!   the outbox fills while the broker is away.
//! - **PostgreSQL**: a private cluster ([`PrivateCluster`], `initdb` and
//!   `pg_ctl` run as the `postgres` user when the test runs as root) on a free
//!   port. First every engine connection is terminated repeatedly for a few
//!   seconds (`pg_terminate_backend`), then the server is stopped with
//!   `pg_ctl stop -m immediate` (a crash: crash recovery at the next start)
//!   while the second wave is published, and started again. Where no private
//!   cluster can be made (no PostgreSQL binaries, not root and not
//!   `postgres`), the test says so and only terminates connections, on a
//!   database of the shared server. A restart of the shared server itself is
//!   done by hand while nothing else runs: `pg_ctlcluster
//!   --skip-systemctl-redirect <version> main restart` (see
//!   `notes/local-stack.md`).

use crate::guarantees::assert_delivered_exactly_once;
use crate::progress::{Progress, wait_until_provisioned};
use crate::provisioner::{Deployment, Provisioner};
use crate::workload::Workload;
use rand::SeedableRng;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use std::ops::Range;
use std::time::{Duration, Instant};
use tenantry_integration_tests::kafka::PrivateKafka;
use tenantry_integration_tests::postgres::{PrivateCluster, terminate_backends};
use tenantry_integration_tests::{
    Poll, RunDir, bootstrap, fresh_database, fresh_database_on, fresh_topics, fresh_topics_on,
    server_url, wait_until,
};
use tenantry_schemas::Topics;

/// Tenants per test, in two waves.
const TENANTS: usize = 50;

/// How long an outage lasts. Long enough for every client to notice (the
/// relay's sends fail, the consumer's fetches fail, pooled connections
/// break), short enough for CI.
const OUTAGE: Duration = Duration::from_secs(3);

/// Deadline for the work to finish once everything is back.
const FINISH_TIMEOUT: Duration = Duration::from_secs(120);

/// Deadline for the run to make visible progress before an outage.
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(60);

/// A pool that tolerates the database going away (connections are checked
/// before use and replaced).
pub(crate) async fn pool(url: &str) -> PgPool {
    PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .expect("connect to the test database")
}

/// One run of an outage test: a deployment, its tenants, the store, and a
/// provisioner started after the first wave was published.
pub(crate) struct OutageRun {
    pub(crate) deployment: Deployment,
    pub(crate) workload: Workload,
    pub(crate) pool: PgPool,
    pub(crate) provisioner: Provisioner,
    topics: Topics,
}

impl OutageRun {
    /// `tenants` tenants for `deployment` (whose topics are `topics`);
    /// publishes `first_wave` of them, then starts the provisioner.
    pub(crate) async fn start(
        run: &RunDir,
        deployment: Deployment,
        topics: Topics,
        tenants: usize,
        first_wave: Range<usize>,
    ) -> Self {
        let workload = Workload::generate(tenants, &mut rand::rngs::StdRng::from_os_rng());
        let mut this = Self {
            pool: pool(&deployment.database_url).await,
            provisioner: Provisioner::new(&deployment, run),
            deployment,
            workload,
            topics,
        };
        this.publish(run, first_wave, "wave-1").await;
        this.provisioner.start();
        this
    }

    /// Publishes `tenants[wave]` with `tenantry publish --file <run>/<name>.jsonl`.
    pub(crate) async fn publish(&self, run: &RunDir, wave: Range<usize>, name: &str) {
        let env = self.deployment.env();
        let file = run.file(&format!("{name}.jsonl"));
        self.workload
            .publish(wave, &file, &Deployment::env_refs(&env))
            .await;
    }

    /// Publishes waves of more and more new tenants (25, 50, 100, 200) until
    /// one is caught mid-run: at least `sagas_more` sagas completed since
    /// `progress`, but not all. A fast provisioner can finish a small wave
    /// before it is seen; the outage that follows must hit work in progress.
    pub(crate) async fn publish_until_mid_run(
        &mut self,
        run: &RunDir,
        progress: &Progress,
        sagas_more: i64,
    ) -> Progress {
        let mut rng = rand::rngs::StdRng::from_os_rng();
        for (attempt, size) in [25, 50, 100, 200].into_iter().enumerate() {
            let wave = self.workload.extend(size, &mut rng);
            self.publish(run, wave, &format!("wave-extra-{attempt}"))
                .await;
            let seen = self.wait_for_sagas(progress.completed + sagas_more).await;
            if !seen.finished(&self.workload) {
                return seen;
            }
        }
        panic!("four waves finished before an outage could hit one");
    }

    /// Waits until at least `sagas` sagas are completed.
    async fn wait_for_sagas(&mut self, sagas: i64) -> Progress {
        let (pool, provisioner) = (&self.pool, &mut self.provisioner);
        wait_until(
            PROGRESS_TIMEOUT,
            &format!("{sagas} sagas completed"),
            || {
                provisioner.assert_alive();
                async move {
                    match Progress::read(pool).await {
                        Ok(p) if p.completed >= sagas => Poll::Ready(p),
                        Ok(p) => Poll::Waiting(p.to_string()),
                        Err(e) => Poll::Waiting(e.to_string()),
                    }
                }
            },
        )
        .await
    }

    /// Waits until at least `sagas` sagas are completed, but not all: the
    /// outage that follows hits a run in progress.
    pub(crate) async fn wait_mid_run(&mut self, sagas: i64) -> Progress {
        let (pool, provisioner) = (&self.pool, &mut self.provisioner);
        let progress = wait_until(
            PROGRESS_TIMEOUT,
            &format!("{sagas} sagas completed"),
            || {
                provisioner.assert_alive();
                async move {
                    match Progress::read(pool).await {
                        Ok(p) if p.completed >= sagas => Poll::Ready(p),
                        Ok(p) => Poll::Waiting(p.to_string()),
                        Err(e) => Poll::Waiting(e.to_string()),
                    }
                }
            },
        )
        .await;
        assert!(
            !progress.finished(&self.workload),
            "the run finished before the outage could hit it: {progress}"
        );
        progress
    }

    /// Waits until every tenant is provisioned, checks every guarantee, stops
    /// the provisioner; returns how long the wait took.
    pub(crate) async fn finish(mut self) -> Duration {
        let finish = wait_until_provisioned(
            &self.pool,
            &self.workload,
            std::slice::from_mut(&mut self.provisioner),
            FINISH_TIMEOUT,
        )
        .await;
        assert_delivered_exactly_once(
            &self.pool,
            &self.deployment.bootstrap,
            &self.topics,
            &self.workload,
        )
        .await;
        self.provisioner.stop().await;
        finish
    }
}

fn finished(started: Instant, finish: Duration) {
    println!(
        "  every tenant provisioned {:.1} s after the last outage; guarantees hold; test {:.1} s",
        finish.as_secs_f64(),
        started.elapsed().as_secs_f64(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_killed_and_restarted_mid_run_loses_and_repeats_no_effect() {
    let started = Instant::now();
    let run = RunDir::new("broker-restart");
    println!(
        "broker restart test, {TENANTS} tenants (logs {})",
        run.path().display()
    );
    let mut broker = PrivateKafka::single(&run.file("kafka.log")).await;
    let (suffix, topics) = fresh_topics_on(&broker.bootstrap()).await;
    let deployment = Deployment {
        bootstrap: broker.bootstrap(),
        suffix,
        database_url: fresh_database().await,
    };
    let half = TENANTS / 2;
    let mut outage = OutageRun::start(&run, deployment, topics, TENANTS, 0..half).await;

    // Outage 1: mid-way through wave 1.
    let before = outage.wait_mid_run(5).await;
    broker.kill(1).await;
    tokio::time::sleep(OUTAGE).await;
    let during = Progress::read(&outage.pool).await.expect("store readable");
    broker.restart(1).await;
    println!("  broker outage 1: before {before}; after {OUTAGE:?} down {during}");

    // Wave 2 reaches the restarted broker; outage 2 hits while it is worked on.
    outage.publish(&run, half..TENANTS, "wave-2").await;
    let before = outage.wait_for_sagas(during.completed + 5).await;
    let before = if before.finished(&outage.workload) {
        // Wave 2 was done before it was seen: more work for outage 2.
        outage.publish_until_mid_run(&run, &before, 5).await
    } else {
        before
    };
    broker.kill(1).await;
    tokio::time::sleep(OUTAGE).await;
    let during = Progress::read(&outage.pool).await.expect("store readable");
    broker.restart(1).await;
    println!("  broker outage 2: before {before}; after {OUTAGE:?} down {during}");

    let finish = outage.finish().await;
    println!("  broker starts {}", broker.starts(1));
    finished(started, finish);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_taken_away_mid_run_loses_and_repeats_no_effect() {
    let started = Instant::now();
    let run = RunDir::new("database-restart");
    println!(
        "database restart test, {TENANTS} tenants (logs {})",
        run.path().display()
    );
    let cluster = match PrivateCluster::start(&run.file("postgres.log")).await {
        Ok(cluster) => Some(cluster),
        Err(reason) => {
            println!(
                "  no private PostgreSQL cluster ({reason}); only terminating connections, \
                 on the shared server"
            );
            None
        }
    };
    let server = cluster
        .as_ref()
        .map_or_else(server_url, PrivateCluster::server_url);
    let database_url = fresh_database_on(&server).await;
    let database = database_url
        .rsplit('/')
        .next()
        .expect("database name")
        .to_owned();
    let (suffix, topics) = fresh_topics().await;
    let deployment = Deployment {
        bootstrap: bootstrap(),
        suffix,
        database_url,
    };
    // Three waves: the first before the start, the second before the
    // server stops, the third while it is down.
    let (wave_1, wave_2, wave_3) = (0..20, 20..35, 35..TENANTS);
    let mut outage = OutageRun::start(&run, deployment, topics, TENANTS, wave_1).await;

    // Outage 1: every engine connection terminated, again and again.
    let before = outage.wait_mid_run(5).await;
    let down = Instant::now();
    let mut terminated = 0;
    while down.elapsed() < OUTAGE {
        terminated += terminate_backends(&server, &database)
            .await
            .expect("pg_terminate_backend");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = Progress::read(&outage.pool).await.ok();
    println!(
        "  connections terminated: {terminated} over {OUTAGE:?}; before {before}; after {}",
        after.map_or("unreadable".into(), |p| p.to_string())
    );

    // Outage 2, mid-way through wave 2: the server stops (a crash) and wave 3
    // is published while it is down.
    outage.publish(&run, wave_2, "wave-2").await;
    let done = after.map_or(before.completed, |p| p.completed);
    let before = outage.wait_for_sagas(done + 3).await;
    let before = if before.finished(&outage.workload) {
        outage.publish_until_mid_run(&run, &before, 3).await
    } else {
        before
    };
    match &cluster {
        Some(cluster) => {
            cluster
                .stop_immediate()
                .await
                .expect("pg_ctl stop -m immediate");
            let down = Instant::now();
            outage.publish(&run, wave_3, "wave-3").await;
            tokio::time::sleep(OUTAGE.saturating_sub(down.elapsed())).await;
            outage.provisioner.assert_alive();
            cluster.start_server().await.expect("pg_ctl start");
            println!(
                "  server stopped (immediate) for {:.1} s while wave 3 was published; \
                 before {before}",
                down.elapsed().as_secs_f64()
            );
        }
        None => {
            outage.publish(&run, wave_3, "wave-3").await;
            let down = Instant::now();
            let mut terminated = 0;
            while down.elapsed() < OUTAGE {
                terminated += terminate_backends(&server, &database).await.unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            println!(
                "  connections terminated again: {terminated} while wave 3 arrived; \
                 before {before}"
            );
        }
    }

    let finish = outage.finish().await;
    finished(started, finish);
}
