//! The rows a batch writes, per table.

use super::Value;
use super::write::TableWrite;
use crate::store::StoreError;
use tenantry_sagas::work::Changes;
use tenantry_schemas::TenantId;

/// The rows `changes` writes, per table, sorted by key (so two batches take
/// shared rows' locks in one order).
pub(super) fn table_writes(changes: &Changes, now: i64) -> Result<Vec<TableWrite>, StoreError> {
    let mut tables = Vec::new();
    let mut push = |head, tail, rows: Vec<Vec<Value>>, all_new| {
        if !rows.is_empty() {
            tables.push(TableWrite {
                head,
                tail,
                rows,
                all_new,
            });
        }
    };
    let mut events: Vec<_> = changes.events.iter().collect();
    events.sort_by_key(|e| e.record.envelope.event_id);
    push(
        "INSERT INTO processed_events (event_id, tenant_id, processed_at)",
        "ON CONFLICT (event_id) DO NOTHING",
        events
            .iter()
            .map(|e| {
                let env = &e.record.envelope;
                vec![
                    env.event_id.to_string().into(),
                    (&env.tenant_id).into(),
                    now.into(),
                ]
            })
            .collect(),
        Some("commerce events"),
    );
    let mut rows = Vec::with_capacity(events.len());
    for e in &events {
        let env = &e.record.envelope;
        rows.push(vec![
            (&env.tenant_id).into(),
            env.sequence.into(),
            env.event_id.to_string().into(),
            e.record.event.kind().into(),
            serde_json::to_string(&e.record)?.into(),
            (&e.source.topic).into(),
            e.source.partition.into(),
            e.source.offset.into(),
            now.into(),
            e.state.as_str().into(),
        ]);
    }
    push(
        "INSERT INTO tenant_events (tenant_id, sequence, event_id, kind, record, source_topic, \
         source_partition, source_offset, recorded_at, state)",
        // Counted through `processed_events`; no error, so that statement
        // completes and reports the conflict.
        "ON CONFLICT DO NOTHING",
        rows,
        None,
    );
    push(
        "INSERT INTO rejections (event_id, tenant_id, reason, rejected_at)",
        "ON CONFLICT (event_id) DO NOTHING",
        changes
            .rejections
            .iter()
            .map(|(event_id, tenant, reason)| {
                vec![
                    event_id.to_string().into(),
                    tenant.into(),
                    reason.into(),
                    now.into(),
                ]
            })
            .collect(),
        None,
    );
    let mut sagas: Vec<_> = changes.sagas.iter().collect();
    sagas.sort_by_key(|s| s.saga_id);
    let mut rows = Vec::with_capacity(sagas.len());
    for saga in &sagas {
        rows.push(vec![
            saga.saga_id.to_string().into(),
            (&saga.tenant_id).into(),
            saga.kind.as_str().into(),
            saga.status.as_str().into(),
            saga.version.into(),
            serde_json::to_string(saga)?.into(),
            now.into(),
            now.into(),
        ]);
    }
    push(
        "INSERT INTO sagas (saga_id, tenant_id, kind, status, version, state, created_at, updated_at)",
        "ON CONFLICT (saga_id) DO NOTHING",
        rows,
        Some("sagas"),
    );
    // The version each saga ends the batch at, for the operators' timeline
    // (`crate::sagas::transition_steps`).
    let mut rows = Vec::with_capacity(sagas.len());
    for saga in &sagas {
        let (done, compensated) = crate::sagas::transition_steps(saga);
        rows.push(vec![
            saga.saga_id.to_string().into(),
            saga.version.into(),
            (&saga.tenant_id).into(),
            saga.status.as_str().into(),
            done.into(),
            compensated.into(),
            saga.failure.clone().into(),
            now.into(),
        ]);
    }
    push(
        "INSERT INTO saga_transitions (saga_id, version, tenant_id, status, done, compensated, \
         failure, written_at)",
        "ON CONFLICT (saga_id, version) DO NOTHING",
        rows,
        None,
    );
    let effects = &changes.effects;
    let mut sites = effects.sites.clone();
    sites.sort();
    push(
        "INSERT INTO sites (host, tenant_id, site)",
        "ON CONFLICT DO NOTHING",
        sites
            .iter()
            .map(|(host, tenant, site)| vec![host.into(), tenant.into(), site.into()])
            .collect(),
        Some("site hosts"),
    );
    push(
        "INSERT INTO tenant_accounts (tenant_id, owner_email, country, residency_pin)",
        "ON CONFLICT (tenant_id) DO NOTHING",
        effects
            .accounts
            .iter()
            .map(|(tenant, owner, country, pin)| {
                vec![
                    tenant.into(),
                    owner.into(),
                    country.into(),
                    pin.clone().into(),
                ]
            })
            .collect(),
        None,
    );
    push(
        "INSERT INTO licences (tenant_id, product, edition, seats)",
        "ON CONFLICT (tenant_id, product) DO UPDATE SET edition = excluded.edition, seats = excluded.seats",
        effects
            .licences
            .iter()
            .map(|(tenant, product, edition, seats)| {
                vec![
                    tenant.into(),
                    product.into(),
                    edition.into(),
                    (*seats).into(),
                ]
            })
            .collect(),
        None,
    );
    push(
        "INSERT INTO site_products (tenant_id, product, state)",
        "ON CONFLICT (tenant_id, product) DO UPDATE SET state = 'active'",
        effects
            .site_products
            .iter()
            .map(|(tenant, product)| vec![tenant.into(), product.into(), "active".into()])
            .collect(),
        None,
    );
    push(
        "INSERT INTO placements (tenant_id, region, pinned)",
        "ON CONFLICT (tenant_id) DO NOTHING",
        effects
            .placements
            .iter()
            .map(|(tenant, region, pinned)| {
                vec![tenant.into(), region.into(), i64::from(*pinned).into()]
            })
            .collect(),
        None,
    );
    push(
        "INSERT INTO site_metadata (tenant_id, scope, config)",
        "ON CONFLICT (tenant_id, scope) DO NOTHING",
        effects
            .metadata
            .iter()
            .map(|(tenant, scope, config)| vec![tenant.into(), scope.into(), config.into()])
            .collect(),
        None,
    );
    let triples = |rows: &[(TenantId, String, String)]| -> Vec<Vec<Value>> {
        let mut rows = rows.to_vec();
        rows.sort();
        rows.dedup();
        rows.iter()
            .map(|(t, a, b)| vec![t.into(), a.into(), b.into()])
            .collect()
    };
    push(
        "INSERT INTO identity_users (tenant_id, user_id, email)",
        "ON CONFLICT DO NOTHING",
        triples(&effects.users),
        None,
    );
    let mut groups = effects.groups.clone();
    groups.sort();
    groups.dedup();
    push(
        "INSERT INTO identity_groups (tenant_id, group_name)",
        "ON CONFLICT DO NOTHING",
        groups
            .iter()
            .map(|(t, g)| vec![t.into(), g.into()])
            .collect(),
        None,
    );
    push(
        "INSERT INTO identity_group_permissions (tenant_id, group_name, permission)",
        "ON CONFLICT DO NOTHING",
        triples(&effects.permissions),
        None,
    );
    push(
        "INSERT INTO identity_group_members (tenant_id, group_name, user_id)",
        "ON CONFLICT DO NOTHING",
        triples(&effects.members),
        None,
    );
    push(
        "INSERT INTO product_databases (tenant_id, product, shard_id, database_name, credentials)",
        "ON CONFLICT DO NOTHING",
        effects
            .databases
            .iter()
            .map(|(tenant, product, shard, database, credentials)| {
                vec![
                    tenant.into(),
                    product.into(),
                    shard.into(),
                    database.into(),
                    credentials.into(),
                ]
            })
            .collect(),
        Some("product databases"),
    );
    push(
        "INSERT INTO installed_apps (tenant_id, product, app)",
        "ON CONFLICT DO NOTHING",
        effects
            .installed_apps
            .iter()
            .map(|(tenant, product, app)| vec![tenant.into(), product.into(), app.into()])
            .collect(),
        None,
    );
    let mut rows = Vec::with_capacity(changes.records.len());
    for (tenant, record) in &changes.records {
        rows.push(vec![
            tenant.into(),
            serde_json::to_string(&record.desired)?.into(),
            serde_json::to_string(&record.provisioned)?.into(),
            serde_json::to_string(&record.ledger)?.into(),
            now.into(),
        ]);
    }
    push(
        "INSERT INTO tenant_states (tenant_id, desired, provisioned, ledger, updated_at)",
        "ON CONFLICT (tenant_id) DO UPDATE SET desired = excluded.desired, \
         provisioned = excluded.provisioned, ledger = excluded.ledger, updated_at = excluded.updated_at",
        rows,
        None,
    );
    push(
        "INSERT INTO tenant_cursors (tenant_id, last_sequence)",
        "ON CONFLICT (tenant_id) DO UPDATE SET last_sequence = excluded.last_sequence",
        changes
            .records
            .iter()
            .map(|(tenant, record)| vec![tenant.into(), record.ledger.commerce_sequence.into()])
            .collect(),
        None,
    );
    Ok(tables)
}
