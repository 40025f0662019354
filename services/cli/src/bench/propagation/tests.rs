use super::report::{Changelog, Latencies, Poll, PropagationReport, Published, Tally, Version};

fn version(commerce_sequence: i64, written_ms: i64) -> Version {
    Version {
        commerce_sequence,
        written_ms,
        delivered_ms: written_ms as f64 + 2.0,
    }
}

fn published(tenant: &str, sequence: i64, at_ms: f64) -> Published {
    Published {
        tenant: tenant.to_owned(),
        sequence,
        at_ms,
    }
}

fn served(at_ms: f64) -> Poll {
    Poll::Served { at_ms }
}

#[test]
fn percentiles_are_nearest_rank_values() {
    let latencies = Latencies::new((1..=100).rev().map(f64::from).collect());
    assert_eq!(latencies.count(), 100);
    assert_eq!(latencies.quantile(0.50), Some(50.0));
    assert_eq!(latencies.quantile(0.90), Some(90.0));
    assert_eq!(latencies.quantile(0.99), Some(99.0));
    assert_eq!(latencies.quantile(1.0), Some(100.0));
    assert_eq!(latencies.max(), Some(100.0));
    // Of 4 values the median is the 2nd, p99 the 4th; of one, that one.
    let four = Latencies::new(vec![4.0, 1.0, 3.0, 2.0]);
    assert_eq!(four.quantile(0.50), Some(2.0));
    assert_eq!(four.quantile(0.99), Some(4.0));
    assert_eq!(Latencies::new(vec![7.5]).quantile(0.01), Some(7.5));
    let empty = Latencies::default();
    assert_eq!((empty.quantile(0.5), empty.max()), (None, None));
    assert_eq!(empty.to_string(), "p50=n/a p90=n/a p99=n/a max=n/a ms");
    assert!(empty.json()["p99"].is_null());
}

#[test]
fn a_sequence_is_matched_to_the_first_version_that_reflects_it() {
    let mut changelog = Changelog::default();
    changelog.record("a", version(1, 1000));
    // Sequences 2 and 3 arrived in one batch: one version, 3.
    changelog.record("a", version(3, 1200));
    // Version 3 published again after a failed transaction.
    changelog.record("a", version(3, 1500));
    changelog.record("b", version(1, 1100));
    assert_eq!(changelog.records(), 4);
    assert_eq!(changelog.first_at_least("a", 1), Some(version(1, 1000)));
    assert_eq!(changelog.first_at_least("a", 2), Some(version(3, 1200)));
    assert_eq!(changelog.first_at_least("a", 3), Some(version(3, 1200)));
    assert_eq!(changelog.first_at_least("a", 4), None);
    assert_eq!(changelog.first_at_least("c", 1), None);
}

#[test]
fn each_version_counts_its_latest_instance() {
    let mut changelog = Changelog::default();
    changelog.record("a", version(1, 1000));
    changelog.record("a", version(3, 1200));
    let published = [
        published("a", 1, 995.0),
        published("a", 2, 1195.5),
        published("a", 3, 1196.0),
    ];
    let polls = [
        vec![served(1004.0), served(1010.0)],
        vec![served(1230.0), served(1220.0)],
        vec![served(1221.0), served(1240.0)],
    ];
    let tally = Tally::of(&published, &polls, &changelog);
    assert!(tally.complete(), "{tally:?}");
    assert_eq!(tally.polls, 6);
    assert_eq!(tally.folded, 1, "sequence 2 has no version of its own");
    let to_served = &tally.changelog_to_served;
    assert_eq!(to_served.count(), 3);
    assert_eq!(to_served.quantile(0.5), Some(30.0));
    assert_eq!(to_served.max(), Some(40.0));
    assert_eq!(tally.per_instance[0].max(), Some(30.0));
    assert_eq!(tally.per_instance[1].quantile(0.5), Some(20.0));
    assert_eq!(tally.publish_to_served.max(), Some(44.0));
    assert_eq!(tally.publish_to_changelog.quantile(0.5), Some(4.5));
    assert_eq!(tally.changelog_to_follower.max(), Some(2.0));
    assert!(tally.goal_met());
}

#[test]
fn a_timed_out_or_unmatched_version_is_counted_not_measured() {
    let mut changelog = Changelog::default();
    changelog.record("a", version(1, 1000));
    let published = [
        published("a", 1, 990.0),
        published("a", 2, 1190.0),
        published("b", 1, 1191.0),
    ];
    let polls = [
        vec![served(1300.0), served(1005.0)],
        vec![
            served(1250.0),
            Poll::TimedOut {
                status: 200,
                had: Some(1),
            },
        ],
        vec![
            served(1250.0),
            Poll::Failed("status 503: warming".to_owned()),
        ],
    ];
    let tally = Tally::of(&published, &polls, &changelog);
    assert_eq!((tally.timed_out, tally.failed, tally.unmatched), (1, 1, 0));
    assert_eq!(tally.first_failure.as_deref(), Some("status 503: warming"));
    assert_eq!(tally.changelog_to_served.count(), 1);
    assert!(!tally.complete());
    assert!(!tally.goal_met(), "incomplete, and p99 300 ms");

    // Served everywhere, but the bench never read a version of it.
    let tally = Tally::of(
        &published[2..],
        &[vec![served(1250.0), served(1251.0)]],
        &changelog,
    );
    assert_eq!(tally.unmatched, 1);
    assert!(!tally.complete());
}

#[test]
fn the_report_states_the_goal_and_the_json_carries_the_figures() {
    let mut changelog = Changelog::default();
    changelog.record("a", version(1, 1000));
    let tally = Tally::of(
        &[published("a", 1, 990.0)],
        &[vec![served(1012.0), served(1150.0)]],
        &changelog,
    );
    let report = PropagationReport {
        instances: 2,
        tenants: 1,
        versions: 1,
        rate: 200.0,
        achieved_rate: 0.0,
        store: "sqlite".to_owned(),
        tally,
        changelog_records: 1,
        projector_warnings: None,
    };
    let text = report.to_string();
    assert!(
        text.contains("served by every instance (1 versions): p50=150.0"),
        "{text}"
    );
    assert!(text.contains("goal p99 ≤ 100 ms MISSED"), "{text}");
    assert!(text.contains("instance 1: p50=12.0"), "{text}");
    let json = report.json();
    assert_eq!(json["changelog_to_served_ms"]["p99"], 150.0);
    assert_eq!(json["per_instance_changelog_to_served_ms"][0]["max"], 12.0);
    assert_eq!(json["publish_to_served_ms"]["max"], 160.0);
    assert_eq!(json["timed_out"], 0);
    assert_eq!(json["goal_met"], false);
}

#[test]
fn samples_have_a_line_per_record_and_a_column_per_instance() {
    let mut changelog = Changelog::default();
    changelog.record("a", version(1, 1000));
    let csv = super::report::samples_csv(
        &[published("a", 1, 990.0), published("b", 1, 991.0)],
        &[
            vec![served(1012.0), served(1150.5)],
            vec![
                Poll::TimedOut {
                    status: 404,
                    had: None,
                },
                Poll::Failed("no answer".to_owned()),
            ],
        ],
        &changelog,
    );
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines,
        [
            "tenant,sequence,published_ms,version,written_ms,delivered_ms,served_ms_1,served_ms_2",
            "a,1,990.000,1,1000,1002.000,1012.000,1150.500",
            "b,1,991.000,,,,timed out (404),failed",
        ]
    );
}
