//! Consumer lag per partition from librdkafka's statistics
//! (`statistics.interval.ms`; `STATISTICS.md` of librdkafka names the
//! fields), reported as a gauge whose name the consumer's owner chooses
//! ([`ConsumerOptions::lag_gauge`](crate::ConsumerOptions::lag_gauge)).

use rdkafka::statistics::{Partition, Statistics};

/// How often librdkafka reports statistics to a consumer with a lag gauge
/// (`statistics.interval.ms`), unless the overrides set it: a lag gauge
/// is at most this old.
pub const STATISTICS_INTERVAL_MS: &str = "5000";

/// Records between this member's position in a partition and the end of
/// the partition, or `None` when the member does not fetch the partition
/// (not assigned, or still looking up its offset) or an offset is unknown.
///
/// The end is the last stable offset (`ls_offset`: the consumers read
/// `read_committed`, librdkafka's default, so an open transaction's records
/// are not yet readable) or, when the broker gave none, the high
/// watermark. The position is the committed offset; for a consumer whose
/// offsets a producer's transaction commits (`transactional`), librdkafka's
/// consumer never sees those commits, so it is the offset after the last
/// record handed to the application (`app_offset`), the committed offset
/// before the first one.
pub fn partition_lag(partition: &Partition, transactional: bool) -> Option<i64> {
    if partition.partition < 0 || partition.fetch_state != "active" {
        return None;
    }
    let end = if partition.ls_offset >= 0 {
        partition.ls_offset
    } else {
        partition.hi_offset
    };
    let position = if transactional && partition.app_offset >= 0 {
        partition.app_offset
    } else {
        partition.committed_offset
    };
    (end >= 0 && position >= 0).then(|| (end - position).max(0))
}

/// Sets `gauge{topic, partition}` to the lag of every partition this
/// member fetches ([`partition_lag`]); a partition it no longer fetches
/// keeps its last value until the process ends.
pub(crate) fn report(gauge: &'static str, statistics: &Statistics, transactional: bool) {
    for (topic, stats) in &statistics.topics {
        for partition in stats.partitions.values() {
            if let Some(lag) = partition_lag(partition, transactional) {
                metrics::gauge!(gauge, "topic" => topic.clone(), "partition" => partition.partition.to_string())
                    .set(lag as f64);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(fetch_state: &str) -> Partition {
        Partition {
            partition: 3,
            fetch_state: fetch_state.into(),
            app_offset: 35,
            stored_offset: 30,
            committed_offset: 30,
            hi_offset: 50,
            ls_offset: 45,
            ..Partition::default()
        }
    }

    #[test]
    fn lag_is_last_stable_offset_minus_committed_offset() {
        assert_eq!(partition_lag(&partition("active"), false), Some(15));
    }

    #[test]
    fn a_transactional_consumer_counts_from_what_it_was_handed() {
        assert_eq!(partition_lag(&partition("active"), true), Some(10));
        let mut fresh = partition("active");
        fresh.app_offset = -1;
        assert_eq!(partition_lag(&fresh, true), Some(15));
    }

    #[test]
    fn without_a_stable_offset_the_high_watermark_is_the_end() {
        let mut p = partition("active");
        p.ls_offset = -1;
        assert_eq!(partition_lag(&p, false), Some(20));
    }

    #[test]
    fn partitions_not_fetched_or_without_offsets_have_no_lag() {
        assert_eq!(partition_lag(&partition("none"), false), None);
        let mut unknown = partition("active");
        unknown.committed_offset = -1001;
        assert_eq!(partition_lag(&unknown, false), None);
        let mut internal = partition("active");
        internal.partition = -1;
        assert_eq!(partition_lag(&internal, false), None);
    }
}
