//! The batch load: one query for everything a batch needs.

use super::{Value, bind, tenant_id};
use crate::store::{Store, StoreError, now_ms};
use sqlx::any::AnyArguments;
use tenantry_sagas::TenantRecord;
use tenantry_sagas::work::{Keys, Loaded, PlacedDatabase, RecordedEvent, ReleasedHost, Shard};
use tenantry_schemas::{ProductKey, Region, TenantId};
use uuid::Uuid;

/// One row of the batch load: which part it belongs to and up to four
/// text columns.
type LoadRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// The batch load as one query — a `UNION ALL` of one `SELECT` per table,
/// every column as text — so a batch reads everything in one round trip
/// and one statement. Parameters: the tenants, then the event ids, then the
/// hosts, each list bound once and named again where it is needed (an
/// empty list is `NULL`, which matches nothing). Shards: those with room,
/// and the number of shards per region (the next shard's number).
fn load_query(
    keys: &Keys,
    event_ids: &[String],
) -> Result<(String, AnyArguments<'static>), StoreError> {
    let mut args = AnyArguments::default();
    let mut next = 0;
    let mut bind_list = |values: Vec<&str>, args: &mut AnyArguments<'static>| {
        if values.is_empty() {
            return Ok::<_, StoreError>("NULL".to_owned());
        }
        let mut names = Vec::with_capacity(values.len());
        for value in values {
            next += 1;
            bind(args, Value::Text(value.to_owned()))?;
            names.push(format!("${next}"));
        }
        Ok(names.join(", "))
    };
    let tenants = bind_list(
        keys.tenants.iter().map(TenantId::as_str).collect(),
        &mut args,
    )?;
    let events = bind_list(event_ids.iter().map(String::as_str).collect(), &mut args)?;
    let hosts = bind_list(keys.hosts.iter().map(String::as_str).collect(), &mut args)?;
    let sql = format!(
        "SELECT 'state', tenant_id, desired, provisioned, ledger FROM tenant_states \
           WHERE tenant_id IN ({tenants}) \
         UNION ALL SELECT DISTINCT 'waiting', tenant_id, NULL, NULL, NULL FROM tenant_events \
           WHERE state = 'waiting' AND tenant_id IN ({tenants}) \
         UNION ALL SELECT 'placement', tenant_id, region, CAST(pinned AS TEXT), NULL FROM placements \
           WHERE tenant_id IN ({tenants}) \
         UNION ALL SELECT 'database', tenant_id, product, shard_id, database_name FROM product_databases \
           WHERE tenant_id IN ({tenants}) \
         UNION ALL SELECT 'group', tenant_id, group_name, NULL, NULL FROM identity_groups \
           WHERE tenant_id IN ({tenants}) \
         UNION ALL SELECT 'event', event_id, tenant_id, CAST(sequence AS TEXT), kind FROM tenant_events \
           WHERE event_id IN ({events}) \
         UNION ALL SELECT 'site', host, tenant_id, NULL, NULL FROM sites \
           WHERE host IN ({hosts}) OR tenant_id IN ({tenants}) \
         UNION ALL SELECT 'released', host, tenant_id, CAST(reusable_after AS TEXT), NULL FROM released_hosts \
           WHERE host IN ({hosts}) \
         UNION ALL SELECT 'sequence', tenant_id, CAST(provisioning_seq AS TEXT), NULL, NULL \
           FROM tenant_sequences WHERE tenant_id IN ({tenants}) \
         UNION ALL SELECT 'shard', shard_id, region, CAST(capacity AS TEXT), CAST(used AS TEXT) FROM shards \
           WHERE used < capacity \
         UNION ALL SELECT 'shards', region, CAST(COUNT(*) AS TEXT), NULL, NULL FROM shards GROUP BY region"
    );
    Ok((sql, args))
}

/// What `keys` name, read in one query ([`load_query`]).
pub(super) async fn load(store: &Store, keys: &Keys) -> Result<Loaded, StoreError> {
    let mut loaded = Loaded {
        now_ms: now_ms(),
        hosts_asked: keys.hosts.clone(),
        ..Loaded::default()
    };
    let ids: Vec<String> = keys.event_ids.iter().map(Uuid::to_string).collect();
    let (sql, args) = load_query(keys, &ids)?;
    let rows: Vec<LoadRow> = sqlx::query_as_with(&sql, args)
        .fetch_all(store.pool())
        .await?;
    for (part, a, b, c, d) in rows {
        let text = |v: Option<String>, what: &str| {
            v.ok_or_else(|| StoreError::Corrupt(format!("batch load: {part} without {what}")))
        };
        let int = |v: Option<String>, what: &str| -> Result<i64, StoreError> {
            text(v, what)?
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("batch load: {part} {what}: {e}")))
        };
        match part.as_str() {
            "state" => {
                let record = TenantRecord {
                    desired: serde_json::from_str(&text(b, "desired")?)?,
                    provisioned: serde_json::from_str(&text(c, "provisioned")?)?,
                    ledger: serde_json::from_str(&text(d, "ledger")?)?,
                };
                loaded.records.insert(tenant_id(&a)?, record);
            }
            "waiting" => {
                loaded.waiting.insert(tenant_id(&a)?);
            }
            "placement" => {
                let region = Region::parse(&text(b, "region")?, "placements.region")
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let pinned = int(c, "pinned")? != 0;
                loaded.placements.insert(tenant_id(&a)?, (region, pinned));
            }
            "database" => {
                let product = ProductKey::parse(&text(b, "product")?)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                loaded.databases.insert(
                    (tenant_id(&a)?, product),
                    PlacedDatabase {
                        shard: text(c, "shard")?,
                        database: text(d, "database")?,
                    },
                );
            }
            "group" => {
                loaded
                    .groups
                    .entry(tenant_id(&a)?)
                    .or_default()
                    .insert(text(b, "group")?);
            }
            "event" => {
                let event_id = Uuid::parse_str(&a)
                    .map_err(|e| StoreError::Corrupt(format!("tenant_events.event_id: {e}")))?;
                loaded.recorded.insert(
                    event_id,
                    RecordedEvent {
                        tenant_id: tenant_id(&text(b, "tenant")?)?,
                        sequence: int(c, "sequence")?,
                        kind: text(d, "kind")?,
                    },
                );
            }
            "site" => {
                loaded.sites.insert(a, tenant_id(&text(b, "tenant")?)?);
            }
            "released" => {
                loaded.released_hosts.insert(
                    a,
                    ReleasedHost {
                        tenant_id: tenant_id(&text(b, "tenant")?)?,
                        reusable_after_ms: int(c, "reusable_after")?,
                    },
                );
            }
            "shard" => loaded.shards.push(Shard {
                shard_id: a,
                region: text(b, "region")?,
                capacity: int(c, "capacity")?,
                used: int(d, "used")?,
            }),
            "sequence" => {
                let sequence = int(b, "provisioning_seq")?;
                loaded
                    .provisioning_sequences
                    .insert(tenant_id(&a)?, sequence);
            }
            "shards" => {
                let count = int(b, "count")?;
                loaded
                    .shard_counts
                    .insert(a, usize::try_from(count).unwrap_or(0));
            }
            other => {
                return Err(StoreError::Corrupt(format!(
                    "batch load: unknown part {other}"
                )));
            }
        }
    }
    loaded.shards.sort_by(|x, y| x.shard_id.cmp(&y.shard_id));
    Ok(loaded)
}
