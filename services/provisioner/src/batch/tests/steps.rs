//! The steps in a batch: shards, apps, product databases, residency.

use super::*;

#[tokio::test]
async fn a_region_without_room_gets_its_next_shard_and_the_database_lands_there() {
    // (case, shards loaded, the shard number asked for)
    let cases = [
        ("no shard at all", vec![], 1),
        (
            "only another region",
            vec![shard("us-shard-1", "us", 10, 0)],
            1,
        ),
        ("full", vec![shard("de-shard-1", "de", 2, 2)], 2),
    ];
    for (case, shards, number) in cases {
        let fx = fixture();
        let batch = [created("t1", "acme"), activated("t1", 2, &[])];
        let plan = plan_of(&fx.ctx, loaded(shards), &batch).await;
        assert_eq!(plan.stop_at, None, "{case}");
        assert_eq!(fx.shards.asked(), [("de".to_owned(), number)], "{case}");
        let added = format!("de-shard-{number}");
        let effects = &plan.changes.effects;
        let placed: Vec<_> = effects.databases.iter().map(|d| d.2.as_str()).collect();
        assert_eq!(placed, [added.as_str()], "{case}");
        assert_eq!(
            effects.shard_usage,
            BTreeMap::from([(added.clone(), 1)]),
            "{case}"
        );
        let state = &plan.changes.states[&tenant("t1")];
        assert_eq!(
            state.products[&jira()].shard.as_deref(),
            Some(added.as_str()),
            "{case}"
        );
    }
}

#[tokio::test]
async fn a_shard_that_cannot_be_added_or_filled_up_meanwhile_stops_the_batch() {
    let full = FakeShards::new(1, 1);
    let unavailable = FakeShards {
        unavailable: true,
        ..FakeShards::new(1, 0)
    };
    let cases = [
        ("filled up meanwhile", full, "filled up meanwhile"),
        ("store unavailable", unavailable, "the store is unavailable"),
    ];
    for (case, shards, reason) in cases {
        let fx = fixture_with(shards);
        let batch = [created("t1", "acme"), activated("t1", 2, &[])];
        let plan = plan_of(&fx.ctx, loaded(vec![]), &batch).await;
        assert_eq!(stopped_at(&plan, reason), 1, "{case}");
    }
}

#[tokio::test]
async fn the_last_room_on_a_shard_goes_to_the_first_tenant() {
    let fx = fixture();
    let before = loaded(vec![shard("de-shard-1", "de", 1, 0)]);
    let batch = [
        created("t1", "acme"),
        activated("t1", 2, &[]),
        created("t2", "beta"),
        activated("t2", 2, &[]),
    ];
    let plan = plan_of(&fx.ctx, before, &batch).await;
    assert_eq!(plan.stop_at, None);
    let effects = &plan.changes.effects;
    let placed: Vec<_> = effects
        .databases
        .iter()
        .map(|d| (d.0.as_str(), d.2.as_str()))
        .collect();
    assert_eq!(placed, [("t1", "de-shard-1"), ("t2", "de-shard-2")]);
    assert_eq!(fx.shards.asked(), [("de".to_owned(), 2)]);
    assert_eq!(
        effects.shard_usage,
        BTreeMap::from([("de-shard-1".to_owned(), 1), ("de-shard-2".to_owned(), 1)])
    );
}

#[tokio::test]
async fn a_shard_added_for_one_tenant_takes_the_next_one_while_it_has_room() {
    let fx = fixture_with(FakeShards::new(2, 0));
    let batch = [
        created("t1", "acme"),
        activated("t1", 2, &[]),
        created("t2", "beta"),
        activated("t2", 2, &[]),
        created("t3", "gamma"),
        activated("t3", 2, &[]),
    ];
    let plan = plan_of(&fx.ctx, loaded(vec![]), &batch).await;
    assert_eq!(plan.stop_at, None);
    let placed: Vec<_> = plan
        .changes
        .effects
        .databases
        .iter()
        .map(|d| (d.0.as_str(), d.2.as_str()))
        .collect();
    assert_eq!(
        placed,
        [
            ("t1", "de-shard-1"),
            ("t2", "de-shard-1"),
            ("t3", "de-shard-2")
        ]
    );
    assert_eq!(
        fx.shards.asked(),
        [("de".to_owned(), 1), ("de".to_owned(), 2)]
    );
}

#[tokio::test]
async fn a_product_with_apps_stops_the_batch() {
    let fx = fixture();
    let batch = [created("t1", "acme"), activated("t1", 2, &["jira-slack"])];
    let plan = plan_of(&fx.ctx, roomy(), &batch).await;
    let index = stopped_at(&plan, "step install_apps of a provision_product saga");
    assert_eq!(index, 1);
    assert!(plan.changes.effects.installed_apps.is_empty());
}

#[tokio::test]
async fn without_transactional_databases_a_product_stops_the_batch() {
    let mut fx = fixture();
    fx.ctx.databases = std::sync::Arc::new(crate::steps::test_support::NamesOnly {
        transactional: false,
    });
    // The tenant's saga has no database to create and still runs here.
    let batch = [created("t1", "acme"), activated("t1", 2, &[])];
    let plan = plan_of(&fx.ctx, roomy(), &batch).await;
    let index = stopped_at(&plan, "step provision_database of a provision_product saga");
    assert_eq!(index, 1);
    assert!(plan.changes.effects.create_databases.is_empty());
}

#[tokio::test]
async fn a_pinned_tenant_is_placed_in_its_pin_and_its_database_lands_there() {
    let fx = fixture();
    let t1 = tenant("t1");
    // Germany's nearest region is `de`; the pin says `ch`.
    let batch = [
        created_pinned("t1", "acme", Some(Region::Ch)),
        activated("t1", 2, &[]),
    ];
    let plan = plan_of(&fx.ctx, roomy(), &batch).await;
    assert_eq!(plan.stop_at, None);
    let effects = &plan.changes.effects;
    assert_eq!(effects.placements, [(t1.clone(), "ch".into(), true)]);
    assert_eq!(effects.accounts[0].3.as_deref(), Some("ch"));
    let shards: Vec<_> = effects.databases.iter().map(|d| d.2.as_str()).collect();
    assert_eq!(shards, ["ch-shard-1"]);
    assert_eq!(
        effects.shard_usage,
        BTreeMap::from([("ch-shard-1".to_owned(), 1)])
    );
    let state = &plan.changes.states[&t1];
    assert_eq!(
        (state.region, state.region_pinned),
        (Some(Region::Ch), true)
    );
    assert_eq!(state.products[&jira()].shard.as_deref(), Some("ch-shard-1"));
}

#[tokio::test]
async fn a_guard_rejection_is_recorded_and_plans_no_saga() {
    let fx = fixture();
    let t1 = tenant("t1");
    let event = activated("t1", 1, &[]);
    let plan = plan_of(&fx.ctx, roomy(), std::slice::from_ref(&event)).await;
    assert_eq!(plan.stop_at, None);
    let changes = &plan.changes;
    assert_eq!(changes.events.len(), 1);
    assert_eq!(changes.events[0].state, EventState::Processed);
    assert_eq!(changes.rejections.len(), 1);
    let (event_id, owner, reason) = &changes.rejections[0];
    assert_eq!((event_id, owner), (&event.envelope.event_id, &t1));
    assert!(reason.contains("unknown"), "{reason}");
    assert!(changes.sagas.is_empty());
    assert_eq!(changes.effects, EffectRows::default());

    let ledger = &changes.records[&t1].ledger;
    assert_eq!(ledger.commerce_sequence, 1);
    assert_eq!(ledger.rejections.len(), 1);
    assert_eq!(ledger.rejections[0].sequence, 1);
    assert_eq!(ledger.rejections[0].kind, "product_activated");
    assert_eq!(&ledger.rejections[0].reason, reason);
    let state = &changes.states[&t1];
    assert_eq!(state.status, TenantStatus::Pending);
    assert_eq!(state.rejections, ledger.rejections);
}

#[tokio::test]
async fn a_product_database_left_behind_stops_the_batch() {
    let fx = fixture();
    let mut before = roomy();
    // A database of t1's jira from an activation whose compensation did not
    // finish: its schema and credentials are repaired on the step's own path.
    before.databases.insert(
        (tenant("t1"), jira()),
        PlacedDatabase {
            shard: "de-shard-1".into(),
            database: database_name("t1", "jira"),
        },
    );
    let batch = [created("t1", "acme"), activated("t1", 2, &[])];
    let plan = plan_of(&fx.ctx, before, &batch).await;
    assert_eq!(stopped_at(&plan, "exists already"), 1);
    assert!(plan.changes.effects.databases.is_empty());
}

#[tokio::test]
async fn a_site_host_the_batch_did_not_load_stops_it() {
    let fx = fixture();
    let batch = [created("t1", "acme")];
    let records: Vec<Record> = vec![Record {
        topic: "commerce.events.v1".into(),
        partition: 0,
        offset: 0,
        key: None,
        payload: None,
        headers: Vec::new(),
        timestamp_ms: None,
    }];
    let pairs: Vec<(&Record, CommerceRecord)> = records.iter().zip(batch.iter().cloned()).collect();
    // Loaded without asking for the host: whether another tenant holds it,
    // or it is in quarantine, is unknown.
    let plan = plan(&fx.ctx, roomy(), &pairs).await;
    assert_eq!(stopped_at(&plan, "not loaded with the batch"), 0);
}
