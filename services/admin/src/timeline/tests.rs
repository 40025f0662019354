use super::*;

fn version(
    version: i64,
    status: &str,
    done: &str,
    compensated: &str,
    failure: Option<&str>,
) -> TransitionRow {
    TransitionRow {
        saga_id: "s".into(),
        version,
        status: status.into(),
        done: done.into(),
        compensated: compensated.into(),
        failure: failure.map(str::to_owned),
        written_at: version * 1000,
    }
}

/// (at, kind, step, detail) of each history entry.
fn entries(history: &[SagaEvent]) -> Vec<(i64, SagaEventKind, Option<&str>, Option<&str>)> {
    history
        .iter()
        .map(|e| (e.at_ms, e.kind, e.step.as_deref(), e.detail.as_deref()))
        .collect()
}

#[test]
fn a_failed_compensated_then_retried_saga_has_each_step_and_the_failure_on_its_axis() {
    use SagaEventKind::*;
    let rows = [
        version(1, "running", "", "", None),
        version(2, "running", "licence", "", None),
        version(3, "compensating", "licence", "", Some("site: taken")),
        version(4, "failed", "licence", "licence", Some("site: taken")),
        // Operator retry: results cleared, running again.
        version(5, "running", "", "", None),
        version(6, "completed", "licence,site", "", None),
    ];
    let refs: Vec<&TransitionRow> = rows.iter().collect();
    assert_eq!(
        entries(&history(&refs)),
        vec![
            (1000, Started, None, None),
            (2000, StepDone, Some("licence"), None),
            (3000, Compensating, None, Some("site: taken")),
            (4000, StepCompensated, Some("licence"), None),
            (4000, Failed, None, Some("site: taken")),
            (5000, Retried, None, None),
            (6000, StepDone, Some("licence"), None),
            (6000, StepDone, Some("site"), None),
            (6000, Completed, None, None),
        ]
    );
}

#[test]
fn a_saga_a_batch_finished_in_one_version_is_started_done_and_completed_at_once() {
    use SagaEventKind::*;
    let rows = [version(3, "completed", "licence,site,region", "", None)];
    let refs: Vec<&TransitionRow> = rows.iter().collect();
    assert_eq!(
        entries(&history(&refs)),
        vec![
            (3000, Started, None, None),
            (3000, StepDone, Some("licence"), None),
            (3000, StepDone, Some("site"), None),
            (3000, StepDone, Some("region"), None),
            (3000, Completed, None, None),
        ]
    );
}

#[test]
fn a_rejection_wins_over_the_stored_state_and_unknown_states_are_named() {
    let cases = [
        ("processed", false, Ok(EventStatus::Processed)),
        ("stale", false, Ok(EventStatus::Stale)),
        ("waiting", false, Ok(EventStatus::Waiting)),
        ("skipped", false, Ok(EventStatus::Skipped)),
        ("processed", true, Ok(EventStatus::Rejected)),
        ("skipped", true, Ok(EventStatus::Rejected)),
    ];
    for (state, rejected, expected) in cases {
        assert_eq!(
            event_status(state, rejected),
            expected,
            "{state} {rejected}"
        );
    }
    let error = event_status("parked", false).unwrap_err();
    assert!(
        error.contains("tenant_events.state") && error.contains("parked"),
        "{error}"
    );
}
