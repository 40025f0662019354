//! `tenantry publish`: one event from flags, or a batch from JSON lines.
//!
//! A batch is validated completely before anything is sent: an invalid line
//! is reported as `line N: field: reason` and nothing is published.

use crate::settings::Settings;
use anyhow::Context;
use clap::{Args, ValueEnum};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tenantry_kafka::Producer;
use tenantry_schemas::*;
use uuid::Uuid;

mod trace;
mod wait;

pub use wait::{Outcome, released_outcome};

/// The commerce event kinds: the seed's seven and `residency_pinned`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Kind {
    /// Tenant created (needs --tenant, --site, --owner-email, --country).
    #[value(alias = "tenant-created")]
    TenantCreated,
    /// Tenant destroyed.
    #[value(alias = "tenant-destroyed")]
    TenantDestroyed,
    /// Product activated (needs --product, --seats).
    #[value(alias = "product-activated")]
    ProductActivated,
    /// Product deactivated (needs --product).
    #[value(alias = "product-deactivated")]
    ProductDeactivated,
    /// Product suspended (needs --product).
    #[value(alias = "product-suspended")]
    ProductSuspended,
    /// Product unsuspended (needs --product).
    #[value(alias = "product-unsuspended")]
    ProductUnsuspended,
    /// Licence updated (needs --product, --seats).
    #[value(alias = "licence-updated")]
    LicenceUpdated,
    /// Residency pin set or changed on an existing tenant (needs
    /// --residency-pin); moves the tenant's data to that region.
    #[value(alias = "residency-pinned")]
    ResidencyPinned,
}

/// One event's fields, from flags or one JSON line. Unknown JSON fields are
/// an error (a typo must not silently drop a value).
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventInput {
    /// Tenant id (the record key); in JSON lines `tenant` or `tenant_id`.
    #[arg(long = "tenant", visible_alias = "tenant-id")]
    #[serde(alias = "tenant")]
    pub tenant_id: Option<String>,
    /// Per-tenant commerce sequence: 1 for the tenant's first event, then +1
    /// per event. Events are applied in this order; a gap holds later events.
    #[arg(long, allow_negative_numbers = true)]
    pub sequence: Option<i64>,
    /// Event id (UUID); default: a new random one.
    #[arg(long)]
    pub event_id: Option<String>,
    /// Site name (tenant_created).
    #[arg(long)]
    pub site: Option<String>,
    /// Owner e-mail (tenant_created).
    #[arg(long)]
    pub owner_email: Option<String>,
    /// ISO 3166-1 alpha-2 country of most users (tenant_created).
    #[arg(long)]
    pub country: Option<String>,
    /// Data-residency pin: us, eu, uk, au, ca, de, in, jp, sg, kr, ch
    /// (tenant_created, residency_pinned).
    #[arg(long)]
    pub residency_pin: Option<String>,
    /// The tenant's own AWS KMS key, a key ARN or key id (tenant_created):
    /// its data keys are wrapped by it ("bring your own key").
    #[arg(long)]
    pub kms_key: Option<String>,
    /// Product key (product events).
    #[arg(long)]
    pub product: Option<String>,
    /// Edition: free, standard, premium, enterprise (default standard).
    #[arg(long)]
    pub edition: Option<String>,
    /// Licensed seats.
    #[arg(long, allow_negative_numbers = true)]
    pub seats: Option<i32>,
    /// Licensed apps, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub apps: Option<Vec<String>>,
    /// Free-text reason (destroyed, suspended, residency_pinned).
    #[arg(long)]
    pub reason: Option<String>,
    /// Source system name.
    #[arg(long)]
    pub source: Option<String>,
    /// Kind (JSON lines only; on the command line it is the positional argument).
    #[arg(skip)]
    pub kind: Option<Kind>,
}

/// `tenantry publish` arguments.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// Event kind (omit with --file).
    #[arg(required_unless_present = "file", value_name = "KIND")]
    pub kind: Option<Kind>,
    /// JSON-lines file: one event per line with a "kind" field and the flag names in snake_case.
    #[arg(long, conflicts_with = "kind")]
    pub file: Option<PathBuf>,
    /// Event fields.
    #[command(flatten)]
    pub input: EventInput,
    /// After publishing, wait until each tenant's context reflects its last
    /// published event — applied, rejected, failed, or waiting behind a
    /// parked tenant — and print the outcome; exits non-zero unless every
    /// event was applied.
    #[arg(long)]
    pub wait: bool,
    /// Print one JSON document on stdout instead of text:
    /// `{"published": [{"event_id", "kind", "tenant_id", "sequence", "topic"}],
    /// "outcomes": null or, with --wait, [{"tenant_id", "sequence", "outcome",
    /// "detail"}]}`.
    #[arg(long)]
    pub json: bool,
    /// Seconds `--wait` waits before giving up.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..), requires = "wait")]
    pub wait_timeout: u64,
}

fn required<'a>(
    value: &'a Option<String>,
    field: &str,
    kind: Kind,
) -> Result<&'a str, ValidationError> {
    value
        .as_deref()
        .ok_or_else(|| ValidationError::new(field, format!("is required for {}", kind_name(kind))))
}

fn kind_name(kind: Kind) -> String {
    kind.to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default()
}

impl EventInput {
    /// Builds and validates a record. Errors name the field.
    pub fn to_record(&self, kind: Kind) -> Result<CommerceRecord, ValidationError> {
        let tenant_id = TenantId::parse(required(&self.tenant_id, "tenant_id", kind)?)?;
        let event_id = match &self.event_id {
            Some(raw) => Uuid::parse_str(raw)
                .map_err(|e| ValidationError::new("event_id", format!("must be a UUID: {e}")))?,
            None => Uuid::new_v4(),
        };
        let product = || ProductKey::parse(required(&self.product, "product", kind)?);
        let seats = || {
            self.seats.ok_or_else(|| {
                ValidationError::new("seats", format!("is required for {}", kind_name(kind)))
            })
        };
        let edition = || {
            self.edition
                .as_deref()
                .map_or(Ok(Edition::Standard), Edition::parse)
        };
        let event = match kind {
            Kind::TenantCreated => CommerceEvent::TenantCreated(TenantCreated {
                site: SiteName::parse(required(&self.site, "site", kind)?)?,
                owner_email: required(&self.owner_email, "owner_email", kind)?.to_owned(),
                country: CountryCode::parse(required(&self.country, "country", kind)?)?,
                residency_pin: self
                    .residency_pin
                    .as_deref()
                    .map(|r| Region::parse(r, "residency_pin"))
                    .transpose()?,
                kms_key: self.kms_key.as_deref().map(KmsKeyRef::parse).transpose()?,
            }),
            Kind::TenantDestroyed => CommerceEvent::TenantDestroyed(TenantDestroyed {
                reason: self.reason.clone(),
            }),
            Kind::ProductActivated => CommerceEvent::ProductActivated(ProductActivated {
                product: product()?,
                edition: edition()?,
                seats: seats()?,
                apps: self
                    .apps
                    .iter()
                    .flatten()
                    .filter(|a| !a.is_empty())
                    .map(|a| AppKey::parse(a))
                    .collect::<Result<_, _>>()?,
            }),
            Kind::ProductDeactivated => CommerceEvent::ProductDeactivated(ProductDeactivated {
                product: product()?,
            }),
            Kind::ProductSuspended => CommerceEvent::ProductSuspended(ProductSuspended {
                product: product()?,
                reason: self.reason.clone(),
            }),
            Kind::ProductUnsuspended => CommerceEvent::ProductUnsuspended(ProductUnsuspended {
                product: product()?,
            }),
            Kind::LicenceUpdated => CommerceEvent::LicenceUpdated(LicenceUpdated {
                product: product()?,
                edition: edition()?,
                seats: seats()?,
            }),
            Kind::ResidencyPinned => CommerceEvent::ResidencyPinned(ResidencyPinned {
                residency_pin: Region::parse(
                    required(&self.residency_pin, "residency_pin", kind)?,
                    "residency_pin",
                )?,
                reason: self.reason.clone(),
            }),
        };
        let record = CommerceRecord {
            envelope: Envelope {
                event_id,
                tenant_id,
                sequence: self.sequence.ok_or_else(|| {
                    ValidationError::new(
                        "sequence",
                        "is required: the tenant's commerce sequence, 1 for its first event",
                    )
                })?,
                occurred_at_ms: now_ms(),
                source: self.source.clone().unwrap_or_else(|| "tenantry-cli".into()),
                correlation_id: None,
                causation_id: None,
            },
            event,
        };
        record.validate()?;
        Ok(record)
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Parses a JSON-lines batch; the first bad line fails the whole batch with
/// `line N: field: reason`. Blank lines and lines starting with `#` are skipped.
pub fn parse_batch(text: &str) -> anyhow::Result<Vec<CommerceRecord>> {
    let mut records = Vec::new();
    let mut errors = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut json = serde_json::Deserializer::from_str(trimmed);
        let parsed = serde_path_to_error::deserialize::<_, EventInput>(&mut json)
            .map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                if inner.is_syntax() || inner.is_eof() {
                    format!("not a JSON object: {inner}")
                } else if path == "." {
                    inner.to_string()
                } else {
                    format!("{path}: {inner}")
                }
            })
            .and_then(|input| {
                let kind = input
                    .kind
                    .ok_or_else(|| "kind: is required (e.g. \"tenant_created\")".to_owned())?;
                input.to_record(kind).map_err(|e| e.to_string())
            });
        match parsed {
            Ok(record) => records.push(record),
            Err(reason) => errors.push(format!("line {number}: {reason}")),
        }
    }
    if !errors.is_empty() {
        // Every bad line, one per line, so a file is fixed in one pass.
        anyhow::bail!("{}", errors.join("\n"));
    }
    Ok(records)
}

/// Encodes and sends `records` in order (key = tenant id), all in flight at
/// once, and waits until the broker has acknowledged every one. With
/// `progress`, a bar on stderr counts acknowledgements (on a terminal only).
pub async fn send(
    settings: &Settings,
    records: &[CommerceRecord],
    progress: bool,
) -> anyhow::Result<()> {
    let topics = settings.topics();
    let codec = settings.codec()?;
    let producer = Producer::new(&settings.kafka("cli"))?;
    producer
        .check_topic(&topics.commerce, Duration::from_secs(5))
        .await
        .with_context(|| {
            format!(
                "topic {} at {} (is the broker running and the topic created? infra/local/up creates it)",
                topics.commerce, settings.broker.bootstrap
            )
        })?;
    let mut encoded = Vec::with_capacity(records.len());
    for record in records {
        encoded.push((
            codec.encode_commerce(&topics.commerce, record).await?,
            RecordHeaders::commerce(record),
        ));
    }
    // Every record is enqueued before the first acknowledgement is awaited
    // (`join_all` polls in order), so a file goes out in batches rather than
    // one round trip per line; the idempotent producer keeps each tenant's
    // records in order within its partition, retries included.
    let bar = if progress {
        crate::progress::bar(records.len() as u64, "published")
    } else {
        indicatif::ProgressBar::hidden()
    };
    let (producer, topic, bar) = (&producer, topics.commerce.as_str(), &bar);
    let sends = records
        .iter()
        .zip(&encoded)
        .map(|(record, (bytes, headers))| async move {
            use tracing::Instrument as _;
            // Each event starts a trace or continues the caller's (`trace`).
            let span = trace::send_span(topic, record);
            let trace = trace::headers(&span);
            let mut pairs = headers.pairs().to_vec();
            pairs.extend(trace.iter().map(|(name, value)| (*name, value.as_slice())));
            let sent = producer
                .send(topic, record.envelope.tenant_id.as_str(), bytes, &pairs)
                .instrument(span)
                .await;
            bar.inc(1);
            sent
        });
    for result in futures::future::join_all(sends).await {
        result.with_context(|| {
            format!(
                "publishing to {} at {}",
                topics.commerce, settings.broker.bootstrap
            )
        })?;
    }
    producer.flush(Duration::from_secs(10)).await?;
    bar.finish_and_clear();
    Ok(())
}

/// Runs `tenantry publish`.
pub async fn run(settings: &Settings, args: PublishArgs) -> anyhow::Result<()> {
    let records = match (&args.file, args.kind) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            parse_batch(&text)?
        }
        (None, Some(kind)) => vec![args.input.to_record(kind)?],
        (None, None) => anyhow::bail!("kind: give an event kind or --file"),
    };
    send(settings, &records, args.file.is_some()).await?;
    let topic = settings.topics().commerce;
    let published: Vec<Published> = records
        .iter()
        .map(|record| Published {
            event_id: record.envelope.event_id.to_string(),
            kind: record.event.kind(),
            tenant_id: record.envelope.tenant_id.to_string(),
            sequence: record.envelope.sequence,
            topic: topic.clone(),
        })
        .collect();
    if !args.json {
        for row in &published {
            println!(
                "published {} to {} tenant={} sequence={} event_id={}",
                row.kind, row.topic, row.tenant_id, row.sequence, row.event_id
            );
        }
    }
    let mut outcomes = Vec::new();
    let waited = if args.wait {
        let timeout = Duration::from_secs(args.wait_timeout);
        wait::wait(settings, &records, timeout, &mut outcomes, !args.json).await
    } else {
        Ok(())
    };
    if args.json {
        // The document first, the error (exit 1) after: a script sees the
        // outcomes that were known either way.
        crate::output::print(&PublishDocument {
            published,
            outcomes: args.wait.then_some(outcomes),
        })?;
    }
    waited
}

/// `publish --json`: what was sent and, with `--wait`, each tenant's outcome.
#[derive(Debug, serde::Serialize)]
pub struct PublishDocument {
    /// Every record sent, in order.
    pub published: Vec<Published>,
    /// With `--wait`: one line per tenant whose outcome was known; `null`
    /// without `--wait`.
    pub outcomes: Option<Vec<wait::WaitLine>>,
}

/// One record `publish` sent.
#[derive(Debug, serde::Serialize)]
pub struct Published {
    /// Event id (UUID), the idempotency key.
    pub event_id: String,
    /// Event kind (`tenant_created`, …).
    pub kind: &'static str,
    /// Tenant id (the record key).
    pub tenant_id: String,
    /// The tenant's commerce sequence.
    pub sequence: i64,
    /// Topic it went to.
    pub topic: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_errors_name_line_and_field() {
        let cases = [
            (
                r#"{"kind":"tenant_created","tenant_id":"t1","sequence":1,"site":"acme","owner_email":"o@acme.test","country":"DE"}"#,
                None,
            ),
            (
                r#"{"kind":"tenant_created","tenant_id":"t1","site":"acme","owner_email":"o@acme.test","country":"DE"}"#,
                Some("line 1: sequence: is required"),
            ),
            (
                r#"{"kind":"tenant_created","tenant_id":"t1","sequence":1,"site":"Acme!","owner_email":"o@acme.test","country":"DE"}"#,
                Some("line 1: site:"),
            ),
            (
                r#"{"kind":"product_activated","tenant_id":"t1","sequence":2,"product":"jira"}"#,
                Some("line 1: seats: is required"),
            ),
            (
                r#"{"kind":"product_activated","tenant_id":"t1","sequence":2,"product":"jira","seats":0}"#,
                Some("line 1: seats: must be between"),
            ),
            (r#"{"tenant_id":"t1"}"#, Some("line 1: kind: is required")),
            (
                r#"{"kind":"tenant_destroyed","tenant_id":"t1","colour":"red"}"#,
                Some("line 1: colour: unknown field `colour`"),
            ),
            (
                r#"{"kind":"tenant_created","tenant_id":"t1","sequence":1,"site":"a","owner_email":"o@a.test","country":"DE","residency_pin":"mars"}"#,
                Some("line 1: residency_pin:"),
            ),
            (
                r#"{"kind":"tenant_created","tenant_id":"t1","sequence":1,"site":"a","owner_email":"o@a.test","country":"DE","kms_key":"arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}"#,
                None,
            ),
            (
                r#"{"kind":"tenant_created","tenant_id":"t1","sequence":1,"site":"a","owner_email":"o@a.test","country":"DE","kms_key":"alias/customer"}"#,
                Some("line 1: kms_key: must be a KMS key ARN"),
            ),
        ];
        for (line, expected) in cases {
            let result = parse_batch(line);
            match expected {
                None => assert_eq!(result.unwrap().len(), 1, "{line}"),
                Some(prefix) => {
                    let message = result.unwrap_err().to_string();
                    assert!(message.starts_with(prefix), "{line}: {message}");
                }
            }
        }
    }

    #[test]
    fn batch_keeps_order_and_skips_blank_lines() {
        let text = "\n# comment\n{\"kind\":\"tenant_destroyed\",\"tenant_id\":\"t1\",\"sequence\":3}\n{\"kind\":\"tenant_destroyed\",\"tenant_id\":\"t2\",\"sequence\":7}\n";
        let records = parse_batch(text).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].envelope.sequence, 3);
        assert_eq!(records[1].envelope.sequence, 7);
    }

    #[test]
    fn the_tenant_field_has_the_flag_name_too() {
        let text = "{\"kind\":\"tenant_destroyed\",\"tenant\":\"t1\",\"sequence\":3}\n";
        let records = parse_batch(text).unwrap();
        assert_eq!(records[0].envelope.tenant_id.as_str(), "t1");
    }

    #[test]
    fn a_line_that_is_not_json_says_so() {
        let message = parse_batch("kind=tenant_destroyed\n")
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("line 1: not a JSON object: expected value"),
            "{message}"
        );
    }

    #[test]
    fn a_value_of_the_wrong_type_names_its_field() {
        let text = "{\"kind\":\"tenant_destroyed\",\"tenant_id\":\"t1\",\"sequence\":\"three\"}\n";
        let message = parse_batch(text).unwrap_err().to_string();
        assert!(
            message.starts_with("line 1: sequence: invalid type: string"),
            "{message}"
        );
    }

    #[test]
    fn second_bad_line_fails_whole_batch() {
        let text = "{\"kind\":\"tenant_destroyed\",\"tenant_id\":\"t1\",\"sequence\":1}\n{\"kind\":\"tenant_destroyed\",\"tenant_id\":\"BAD\",\"sequence\":1}\n";
        let message = parse_batch(text).unwrap_err().to_string();
        assert!(message.starts_with("line 2: tenant_id:"), "{message}");
    }

    #[test]
    fn every_bad_line_is_reported() {
        let text = "{\"kind\":\"tenant_destroyed\",\"tenant_id\":\"BAD\",\"sequence\":1}\n\
            {\"kind\":\"tenant_destroyed\",\"tenant_id\":\"t1\",\"sequence\":1}\n\
            {\"kind\":\"residency_pinned\",\"tenant_id\":\"t1\",\"sequence\":2}\n";
        let message = parse_batch(text).unwrap_err().to_string();
        let lines: Vec<&str> = message.lines().collect();
        assert_eq!(lines.len(), 2, "{message}");
        assert!(lines[0].starts_with("line 1: tenant_id:"), "{message}");
        assert!(
            lines[1].starts_with("line 3: residency_pin: is required"),
            "{message}"
        );
    }
}
