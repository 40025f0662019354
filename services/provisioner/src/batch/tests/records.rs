//! What a batch records and where it stops: dedup, admission, parking,
//! reused event ids, taken sites, guard rejections.

use super::*;

#[test]
fn keys_name_the_tenants_event_ids_and_asked_hosts() {
    let batch = [created("t1", "acme"), activated("t2", 2, &[])];
    let record = Record {
        topic: "t".into(),
        partition: 0,
        offset: 0,
        key: None,
        payload: None,
        headers: Vec::new(),
        timestamp_ms: None,
    };
    let pairs: Vec<(&Record, CommerceRecord)> =
        batch.iter().map(|c| (&record, c.clone())).collect();
    let keys = keys(&pairs, DOMAIN);
    assert_eq!(
        keys.tenants.into_iter().collect::<Vec<_>>(),
        [tenant("t1"), tenant("t2")]
    );
    assert_eq!(keys.event_ids.len(), 2);
    assert!(keys.event_ids.contains(&batch[0].envelope.event_id));
    assert!(keys.event_ids.contains(&batch[1].envelope.event_id));
    assert_eq!(
        keys.hosts.into_iter().collect::<Vec<_>>(),
        ["acme.tenantry.test"]
    );
}

#[tokio::test]
async fn a_new_tenant_and_its_product_are_provisioned_in_one_batch() {
    let fx = fixture();
    let t1 = tenant("t1");
    let batch = [created("t1", "acme"), activated("t1", 2, &[])];
    let plan = plan_of(&fx.ctx, roomy(), &batch).await;
    assert_eq!(plan.stop_at, None);
    let changes = &plan.changes;

    let recorded: Vec<_> = changes
        .events
        .iter()
        .map(|e| (e.record.envelope.event_id, e.source.offset, e.state))
        .collect();
    assert_eq!(
        recorded,
        [
            (batch[0].envelope.event_id, 0, EventState::Processed),
            (batch[1].envelope.event_id, 1, EventState::Processed),
        ]
    );
    assert!(changes.rejections.is_empty(), "{:?}", changes.rejections);

    let sagas: Vec<_> = changes.sagas.iter().map(|s| (s.kind, s.status)).collect();
    assert_eq!(
        sagas,
        [
            (SagaKind::ProvisionTenant, SagaStatus::Completed),
            (SagaKind::ProvisionProduct, SagaStatus::Completed),
        ]
    );
    assert_eq!(
        changes.sagas[1].trigger_event_id,
        batch[1].envelope.event_id
    );

    let effects = &changes.effects;
    let database = database_name("t1", "jira");
    assert_eq!(
        effects.accounts,
        [(t1.clone(), "owner@t1.test".into(), "DE".into(), None)]
    );
    assert_eq!(
        effects.licences,
        [(t1.clone(), jira(), "standard".into(), 10)]
    );
    assert_eq!(
        effects.sites,
        [("acme.tenantry.test".into(), t1.clone(), "acme".into())]
    );
    assert_eq!(effects.site_products, [(t1.clone(), jira())]);
    assert_eq!(effects.placements, [(t1.clone(), "de".into(), false)]);
    assert_eq!(effects.create_databases, std::slice::from_ref(&database));
    assert_eq!(
        effects.shard_usage,
        BTreeMap::from([("de-shard-1".to_owned(), 1)])
    );
    assert_eq!(effects.databases.len(), 1, "{:?}", effects.databases);
    let (owner, product, shard, name, sealed) = &effects.databases[0];
    assert_eq!(
        (owner, product, shard.as_str(), name),
        (&t1, &jira(), "de-shard-1", &database)
    );
    assert!(!sealed.is_empty());
    let sealed = hex::decode(sealed).expect("sealed credentials are hex");
    let secret = fx.keys.open(&t1, &sealed).await.unwrap();
    let secret = String::from_utf8(secret).unwrap();
    assert!(
        secret.contains(&format!("\"database\":\"{database}\"")),
        "{secret}"
    );
    assert!(effects.installed_apps.is_empty());

    assert_eq!(changes.records.len(), 1);
    assert_eq!(changes.records[&t1].ledger.commerce_sequence, 2);
    assert_eq!(changes.states.len(), 1, "exactly one published state");
    let state = &changes.states[&t1];
    assert_eq!(state.status, TenantStatus::Active);
    assert_eq!(state.commerce_sequence, 2);
    assert_eq!(state.site_host.as_deref(), Some("acme.tenantry.test"));
    assert_eq!(state.region, Some(Region::De));
    let product = &state.products[&jira()];
    assert_eq!(product.state, ProductState::Active);
    assert_eq!(product.shard.as_deref(), Some("de-shard-1"));
    assert_eq!(product.database.as_deref(), Some(database.as_str()));
}

#[tokio::test]
async fn a_redelivered_batch_changes_nothing() {
    let fx = fixture();
    let before = roomy();
    let batch = [created("t1", "acme"), activated("t1", 2, &[])];
    let first = plan_of(&fx.ctx, before.clone(), &batch).await;
    assert_eq!(first.stop_at, None);
    let after = committed(before, &first.changes);
    assert_eq!(after.recorded.len(), 2);

    let again = plan_of(&fx.ctx, after, &batch).await;
    assert_eq!(again.stop_at, None);
    assert_eq!(again.changes, Changes::default());
}

#[tokio::test]
async fn a_record_repeated_within_a_batch_is_recorded_once() {
    let fx = fixture();
    let event = created("t1", "acme");
    let batch = [event.clone(), event];
    let plan = plan_of(&fx.ctx, roomy(), &batch).await;
    assert_eq!(plan.stop_at, None);
    assert_eq!(plan.changes.events.len(), 1);
    assert_eq!(plan.changes.sagas.len(), 1);
    assert_eq!(plan.changes.effects.sites.len(), 1);
}

#[tokio::test]
async fn a_site_taken_earlier_in_the_batch_stops_the_second_tenant() {
    let fx = fixture();
    let (t1, t2) = (tenant("t1"), tenant("t2"));
    let batch = [created("t1", "acme"), created("t2", "acme")];
    let plan = plan_of(&fx.ctx, roomy(), &batch).await;
    let index = stopped_at(&plan, "acme.tenantry.test");
    assert_eq!(index, 1);
    let reason = &plan.stop_at.as_ref().unwrap().1;
    assert!(reason.contains("taken by tenant t1"), "{reason}");

    // What t1's record decided is in the plan, and no site went to t2.
    let changes = &plan.changes;
    assert_eq!(
        changes.effects.sites,
        [("acme.tenantry.test".into(), t1.clone(), "acme".into())]
    );
    let t1_sagas: Vec<_> = changes
        .sagas
        .iter()
        .filter(|s| s.tenant_id == t1)
        .map(|s| (s.kind, s.status))
        .collect();
    assert_eq!(
        t1_sagas,
        [(SagaKind::ProvisionTenant, SagaStatus::Completed)]
    );
    assert!(changes.sagas.iter().all(|s| s.tenant_id != t2));
    assert!(changes.effects.placements.iter().all(|p| p.0 != t2));

    // The records before the stop, decided again as the ingest does, are
    // t1's alone and complete.
    let prefix = plan_of(&fx.ctx, roomy(), &batch[..index]).await;
    assert_eq!(prefix.stop_at, None);
    assert_eq!(
        prefix.changes.effects.sites,
        [("acme.tenantry.test".into(), t1.clone(), "acme".into())]
    );
    assert_eq!(prefix.changes.events.len(), 1);
    assert_eq!(prefix.changes.records.keys().collect::<Vec<_>>(), [&t1]);
    assert_eq!(prefix.changes.states[&t1].status, TenantStatus::Active);
}

#[tokio::test]
async fn a_site_another_tenant_holds_in_the_store_stops_the_batch() {
    let fx = fixture();
    let mut before = roomy();
    before
        .sites
        .insert("acme.tenantry.test".into(), tenant("t9"));
    let plan = plan_of(&fx.ctx, before, &[created("t1", "acme")]).await;
    assert_eq!(stopped_at(&plan, "taken by tenant t9"), 0);
}

#[tokio::test]
async fn a_stale_event_is_recorded_stale_and_changes_nothing_else() {
    let fx = fixture();
    let before = provisioned(&fx).await;
    // Sequence 2 again under a new event id: not newer than the cursor.
    let stale = activated("t1", 2, &[]);
    let plan = plan_of(&fx.ctx, before, std::slice::from_ref(&stale)).await;
    assert_eq!(plan.stop_at, None);
    let changes = &plan.changes;
    assert_eq!(changes.events.len(), 1);
    assert_eq!(
        changes.events[0].record.envelope.event_id,
        stale.envelope.event_id
    );
    assert_eq!(changes.events[0].state, EventState::Stale);
    assert!(changes.rejections.is_empty());
    assert!(changes.sagas.is_empty());
    assert!(changes.records.is_empty());
    assert!(changes.states.is_empty());
    assert_eq!(changes.effects, EffectRows::default());
}

#[tokio::test]
async fn an_event_beyond_the_next_sequence_stops_the_batch() {
    let fx = fixture();
    let before = provisioned(&fx).await;
    // t1's cursor is 2; 4 leaves a gap at 3.
    let batch = [created("t2", "beta"), activated("t1", 4, &[])];
    let plan = plan_of(&fx.ctx, before, &batch).await;
    assert_eq!(stopped_at(&plan, ""), 1);
    assert!(
        plan.changes
            .events
            .iter()
            .all(|e| e.record.envelope.event_id != batch[1].envelope.event_id),
        "the waiting event is not recorded in the batch"
    );
}

#[tokio::test]
async fn an_event_of_a_parked_tenant_stops_the_batch() {
    let fx = fixture();
    for kind in ["saga_failed", "sequence_gap"] {
        let mut before = provisioned(&fx).await;
        let record = before.records.get_mut(&tenant("t1")).unwrap();
        record.ledger.parked = Some(parked(kind));
        let plan = plan_of(&fx.ctx, before, &[activated("t1", 3, &[])]).await;
        assert_eq!(stopped_at(&plan, ""), 0, "parked at {kind}");
    }
}

#[tokio::test]
async fn a_redelivered_event_of_a_parked_tenant_stops_the_batch() {
    let fx = fixture();
    let before = roomy();
    let batch = [created("t1", "acme"), activated("t1", 2, &[])];
    let first = plan_of(&fx.ctx, before.clone(), &batch).await;
    let mut after = committed(before, &first.changes);
    let record = after.records.get_mut(&tenant("t1")).unwrap();
    record.ledger.parked = Some(parked("saga_failed"));
    let plan = plan_of(&fx.ctx, after, &batch[1..]).await;
    assert_eq!(stopped_at(&plan, "parked"), 0);
}

#[tokio::test]
async fn a_tenant_with_waiting_events_stops_the_batch() {
    let fx = fixture();
    let mut before = provisioned(&fx).await;
    before.waiting.insert(tenant("t1"));
    let batch = [created("t2", "beta"), activated("t1", 3, &[])];
    let plan = plan_of(&fx.ctx, before, &batch).await;
    assert_eq!(stopped_at(&plan, "waiting"), 1);
}

#[tokio::test]
async fn an_event_id_recorded_for_another_event_stops_the_batch() {
    let fx = fixture();
    let t9 = tenant("t9");
    let event = created("t1", "acme");
    let other_events = [
        (t9.clone(), 1, "tenant_created"),
        (tenant("t1"), 2, "tenant_created"),
        (tenant("t1"), 1, "product_activated"),
    ];
    for (owner, sequence, kind) in other_events {
        let mut before = roomy();
        before.recorded.insert(
            event.envelope.event_id,
            RecordedEvent {
                tenant_id: owner.clone(),
                sequence,
                kind: kind.into(),
            },
        );
        let plan = plan_of(&fx.ctx, before, std::slice::from_ref(&event)).await;
        assert_eq!(
            stopped_at(&plan, "another event"),
            0,
            "{owner} {sequence} {kind}"
        );
        assert!(plan.changes.events.is_empty());
    }

    // The same id on two events of one batch: the second stops.
    let mut reused = created("t2", "beta");
    reused.envelope.event_id = event.envelope.event_id;
    let plan = plan_of(&fx.ctx, roomy(), &[event, reused]).await;
    assert_eq!(stopped_at(&plan, "another event"), 1);
}
