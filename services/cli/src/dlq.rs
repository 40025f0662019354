//! `tenantry dlq list|redrive`: inspect the dead-letter topic and republish a
//! record to the topic it came from once its cause is fixed.

use crate::output;
use crate::settings::{Settings, flags};
use clap::{Args, Subcommand};
use std::time::Duration;
use tenantry_kafka::{Producer, Record, read_to_end};

/// `tenantry dlq …` arguments.
#[derive(Debug, Args)]
pub struct DlqArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: DlqCommand,
}

/// Dead-letter commands.
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List dead-lettered records: position, key, source and reason.
    ///
    /// With --json: an array of `{"partition", "offset", "key", "source_topic",
    /// "source_partition", "source_offset", "reason"}`; a missing key or
    /// header is null.
    List {
        /// Print one JSON document on stdout instead of text.
        #[arg(long)]
        json: bool,
        #[allow(missing_docs)]
        #[command(flatten)]
        flags: flags::Dlq,
    },
    /// Republish one dead-lettered record (same key, payload and headers) to its source topic.
    ///
    /// With --json: `{"from": "<partition>:<offset>" in the dead-letter topic,
    /// "topic", "partition", "offset"}` (where the record was republished).
    Redrive {
        /// Partition of the dead-letter topic.
        #[arg(long, default_value_t = 0, allow_hyphen_values = true, value_parser = clap::value_parser!(i32).range(0..))]
        partition: i32,
        /// Offset in the dead-letter topic (from `tenantry dlq list`).
        #[arg(long, allow_hyphen_values = true, value_parser = clap::value_parser!(i64).range(0..))]
        offset: i64,
        /// Print one JSON document on stdout instead of text.
        #[arg(long)]
        json: bool,
        #[allow(missing_docs)]
        #[command(flatten)]
        flags: flags::Dlq,
    },
}

fn header(record: &Record, name: &str) -> String {
    record
        .header(name)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_else(|| "-".into())
}

/// Runs `tenantry dlq …`, with the global `--log` filter.
pub async fn run(args: DlqArgs, log: Option<&str>) -> anyhow::Result<()> {
    let flags = match &args.command {
        DlqCommand::List { flags, .. } | DlqCommand::Redrive { flags, .. } => flags.clone(),
    };
    let settings = &Settings::of(flags, log);
    let topics = settings.topics();
    let records = read_to_end(
        &settings.kafka("dlq"),
        &topics.commerce_dlq,
        Duration::from_secs(30),
    )
    .await?;
    match args.command {
        DlqCommand::List { json: true, .. } => {
            let rows: Vec<_> = records.iter().map(output::DlqRow::from).collect();
            output::print(&rows)?;
        }
        DlqCommand::List { json: false, .. } => {
            if records.is_empty() {
                println!("{} is empty", topics.commerce_dlq);
            }
            for r in &records {
                println!(
                    "{}:{}  key={}  from {}:{}@{}  reason: {}",
                    r.partition,
                    r.offset,
                    r.key_str().unwrap_or("-"),
                    header(r, "dlq.source.topic"),
                    header(r, "dlq.source.partition"),
                    header(r, "dlq.source.offset"),
                    header(r, "dlq.reason"),
                );
            }
        }
        DlqCommand::Redrive {
            partition,
            offset,
            json,
            ..
        } => {
            let Some(record) = records
                .iter()
                .find(|r| r.partition == partition && r.offset == offset)
            else {
                anyhow::bail!(
                    "offset: no record at {partition}:{offset} in {} (see tenantry dlq list)",
                    topics.commerce_dlq
                );
            };
            let target = record
                .header("dlq.source.topic")
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_else(|| topics.commerce.clone());
            let position = format!("{partition}:{offset}");
            let mut headers: Vec<(&str, &[u8])> = record
                .headers
                .iter()
                .filter(|(name, _)| !name.starts_with("dlq."))
                .map(|(name, value)| (name.as_str(), value.as_slice()))
                .collect();
            headers.push(("dlq.redriven_from", position.as_bytes()));
            let producer = Producer::new(&settings.kafka("dlq"))?;
            let (p, o) = producer
                .send_raw(
                    &target,
                    record.key.as_deref(),
                    record.payload.as_deref(),
                    &headers,
                )
                .await?;
            producer.flush(Duration::from_secs(10)).await?;
            if json {
                return crate::output::print(&crate::output::RedrivenRow {
                    from: position,
                    topic: target,
                    partition: p,
                    offset: o,
                });
            }
            println!("redriven {position} to {target} at {p}:{o}");
        }
    }
    Ok(())
}
