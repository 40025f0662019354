//! [`BatchStore`] on a [`MemoryStore`]: the load reads the tables at once;
//! the commit checks the rows the batch counts on being new, then writes
//! everything, or — on a conflict — nothing, as `crate::batch` does.

use super::{MemoryStore, StoredEvent, StoredSaga, Tables};
use crate::store::{StoreError, now_ms};
use std::collections::{BTreeMap, BTreeSet};
use tenantry_sagas::BatchStore;
use tenantry_sagas::work::{Changes, Committed, EventState, Keys, Loaded, PlacedDatabase};
use tenantry_schemas::{Region, TenantId};

impl BatchStore for MemoryStore {
    type Error = StoreError;

    async fn load(&self, keys: &Keys) -> Result<Loaded, StoreError> {
        Ok(load(&self.lock(), keys))
    }

    async fn commit(&self, changes: &Changes) -> Result<Committed, StoreError> {
        let mut tables = self.lock();
        if let Some(conflict) = conflict(&tables, changes) {
            return Ok(conflict);
        }
        // On a copy: a row that does not convert leaves the tables as they were.
        let mut next = tables.clone();
        write(&mut next, changes)?;
        *tables = next;
        Ok(Committed::Done)
    }
}

fn load(tables: &Tables, keys: &Keys) -> Loaded {
    let asked = |tenant: &TenantId| keys.tenants.contains(tenant);
    let mut shard_counts = BTreeMap::new();
    for shard in tables.shards.values() {
        *shard_counts.entry(shard.region.clone()).or_default() += 1;
    }
    Loaded {
        records: pick(keys, &tables.tenants),
        recorded: keys
            .event_ids
            .iter()
            .filter_map(|id| {
                let event = tables.events.get(id)?;
                let env = &event.record.envelope;
                Some((
                    *id,
                    tenantry_sagas::work::RecordedEvent {
                        tenant_id: env.tenant_id.clone(),
                        sequence: env.sequence,
                        kind: event.record.event.kind().to_owned(),
                    },
                ))
            })
            .collect(),
        waiting: tables
            .events
            .values()
            .filter(|e| e.state == EventState::Waiting && asked(&e.record.envelope.tenant_id))
            .map(|e| e.record.envelope.tenant_id.clone())
            .collect(),
        sites: tables
            .sites
            .iter()
            .filter(|(host, owner)| keys.hosts.contains(*host) || asked(owner))
            .map(|(host, owner)| (host.clone(), owner.clone()))
            .collect(),
        released_hosts: tables
            .released_hosts
            .iter()
            .filter(|(host, _)| keys.hosts.contains(*host))
            .map(|(host, released)| (host.clone(), released.clone()))
            .collect(),
        hosts_asked: keys.hosts.clone(),
        placements: pick(keys, &tables.placements),
        databases: tables
            .databases
            .iter()
            .filter(|((tenant, _), _)| asked(tenant))
            .map(|(key, placed)| (key.clone(), placed.clone()))
            .collect(),
        groups: pick(keys, &tables.groups),
        shards: tables
            .shards
            .values()
            .filter(|s| s.used < s.capacity)
            .cloned()
            .collect(),
        shard_counts,
        provisioning_sequences: pick(keys, &tables.provisioning_sequences),
        now_ms: now_ms(),
    }
}

/// The entries of `map` for the asked tenants.
fn pick<V: Clone>(keys: &Keys, map: &BTreeMap<TenantId, V>) -> BTreeMap<TenantId, V> {
    keys.tenants
        .iter()
        .filter_map(|t| map.get(t).map(|v| (t.clone(), v.clone())))
        .collect()
}

/// The first kind of row `changes` counts on being new that another writer
/// wrote since the load, as the database's commit reports it.
fn conflict(tables: &Tables, changes: &Changes) -> Option<Committed> {
    let taken = |what: &str, taken: usize, sent: usize| {
        (taken > 0).then(|| {
            Committed::Conflict(format!("{taken} of {sent} {what} were written meanwhile"))
        })
    };
    let events = &changes.events;
    let sagas = &changes.sagas;
    let sites = &changes.effects.sites;
    let databases = &changes.effects.databases;
    let owners: BTreeSet<&TenantId> = tables.sites.values().collect();
    let names: BTreeSet<&str> = tables
        .databases
        .values()
        .map(|d| d.database.as_str())
        .collect();
    let sequenced = changes
        .states
        .keys()
        .all(|t| changes.provisioning_sequences.contains_key(t));
    let moved = if sequenced {
        changes
            .states
            .keys()
            .filter(|t| {
                tables.provisioning_sequences.get(*t).copied().unwrap_or(0)
                    != changes.provisioning_sequences[*t]
            })
            .count()
    } else {
        0
    };
    taken(
        "commerce events",
        events
            .iter()
            .filter(|e| tables.processed.contains_key(&e.record.envelope.event_id))
            .count(),
        events.len(),
    )
    .or_else(|| {
        let count = sagas
            .iter()
            .filter(|s| tables.sagas.contains_key(&s.saga_id))
            .count();
        taken("sagas", count, sagas.len())
    })
    .or_else(|| {
        let count = sites
            .iter()
            .filter(|(host, owner, _)| tables.sites.contains_key(host) || owners.contains(owner))
            .count();
        taken("site hosts", count, sites.len())
    })
    .or_else(|| {
        let count = databases
            .iter()
            .filter(|(tenant, product, _, name, _)| {
                tables
                    .databases
                    .contains_key(&(tenant.clone(), product.clone()))
                    || names.contains(name.as_str())
            })
            .count();
        taken("product databases", count, databases.len())
    })
    .or_else(|| taken("provisioning sequences", moved, changes.states.len()))
}

/// Writes `changes`, checked by [`conflict`].
fn write(tables: &mut Tables, changes: &Changes) -> Result<(), StoreError> {
    for event in &changes.events {
        let env = &event.record.envelope;
        tables.processed.insert(env.event_id, env.tenant_id.clone());
        tables.events.entry(env.event_id).or_insert(StoredEvent {
            record: event.record.clone(),
            source: event.source.clone(),
            state: event.state,
        });
    }
    for (event_id, tenant, reason) in &changes.rejections {
        tables
            .rejections
            .entry(*event_id)
            .or_insert_with(|| (tenant.clone(), reason.clone()));
    }
    for saga in &changes.sagas {
        let now = tables.tick();
        tables.sagas.insert(
            saga.saga_id,
            StoredSaga {
                saga: saga.clone(),
                created: now,
                updated: now,
            },
        );
    }
    let effects = &changes.effects;
    for (host, owner, _) in &effects.sites {
        tables.sites.insert(host.clone(), owner.clone());
    }
    for host in &effects.reclaimed_hosts {
        tables.released_hosts.remove(host);
    }
    for (owner, region, pinned) in &effects.placements {
        let region = Region::parse(region, "placements.region")
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        tables
            .placements
            .entry(owner.clone())
            .or_insert((region, *pinned));
    }
    for (owner, group) in &effects.groups {
        tables
            .groups
            .entry(owner.clone())
            .or_default()
            .insert(group.clone());
    }
    for (owner, product, shard, database, _) in &effects.databases {
        tables.databases.insert(
            (owner.clone(), product.clone()),
            PlacedDatabase {
                shard: shard.clone(),
                database: database.clone(),
            },
        );
    }
    for (shard, count) in &effects.shard_usage {
        if let Some(shard) = tables.shards.get_mut(shard) {
            shard.used += count;
        }
    }
    for (tenant, record) in &changes.records {
        tables.tenants.insert(tenant.clone(), record.clone());
        tables
            .cursors
            .insert(tenant.clone(), record.ledger.commerce_sequence);
    }
    for (tenant, state) in &changes.states {
        tables.publish(tenant, state.clone());
    }
    Ok(())
}
