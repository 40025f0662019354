//! One conformance suite for every implementation of the provisioner's
//! store traits ([`tenantry_sagas::ProvisionerStore`], its
//! [`tenantry_sagas::UnitOfWork`], [`tenantry_sagas::BatchStore`]): each
//! test is a function generic over the store, run against PostgreSQL (the
//! local stack's server, a fresh database per test), SQLite (a temporary
//! file) and memory ([`tenantry_store::memory::MemoryStore`]). A new
//! implementation is correct when it passes here.

mod batch;
mod events;
mod harness;
mod parking;
mod sagas;
#[path = "../common/scratch.rs"]
mod scratch;
#[path = "../common/stores.rs"]
mod stores;
mod tenants;

harness::conformance! {
    events::an_event_id_is_processed_once_and_keeps_its_identity,
    events::waiting_events_are_released_lowest_sequence_first,
    events::a_rejection_keeps_its_first_reason,
    tenants::a_tenant_record_is_read_back,
    tenants::one_state_is_published_per_changed_tenant_per_commit,
    tenants::no_state_is_published_when_it_did_not_change,
    tenants::a_unit_of_work_dropped_without_commit_writes_nothing,
    tenants::outbox_records_are_claimed_oldest_first_and_removed_once_published,
    parking::parking_rows_are_replaced_requested_and_removed,
    parking::a_retry_of_a_sequence_gap_is_refused_and_records_nothing,
    parking::failed_compensations_are_listed_while_parked_on,
    sagas::a_saga_is_inserted_once,
    sagas::a_compare_and_set_on_an_old_version_is_stale,
    sagas::unfinished_sagas_are_listed_oldest_first,
    batch::a_batch_is_read_back_as_committed,
    batch::a_batch_taking_a_taken_host_writes_nothing,
    batch::a_batch_recording_a_recorded_event_writes_nothing,
    batch::a_batch_inserting_an_inserted_saga_writes_nothing,
}
