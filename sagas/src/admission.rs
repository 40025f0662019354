//! Admission: the per-tenant order of commerce events (case D4 and the
//! commerce-sequence rule), as pure functions of the tenant's [`Ledger`].
//!
//! Commerce events of a tenant are *released* to the desired state strictly
//! in commerce-sequence order, starting at 1. An event whose sequence is not
//! newer than the last released one is stale (recorded, no effect). An event
//! after a gap, or any event of a *parked* tenant, waits in the event stream
//! until the gap fills or an operator releases the tenant. A tenant is parked
//! when a saga for it fails, or at a gap; other tenants keep flowing.
//!
//! The store records what these functions decide; it does not decide.

use crate::tenant::Ledger;

/// Why a tenant is parked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParkKind {
    /// A saga failed (or its compensation did).
    SagaFailed,
    /// The next commerce sequence has not arrived.
    SequenceGap,
}

impl ParkKind {
    /// Stored and published name (`saga_failed`, `sequence_gap`).
    pub fn as_str(self) -> &'static str {
        match self {
            ParkKind::SagaFailed => "saga_failed",
            ParkKind::SequenceGap => "sequence_gap",
        }
    }

    /// The kind named `name` (the inverse of [`ParkKind::as_str`]).
    pub fn parse(name: &str) -> Option<Self> {
        [ParkKind::SagaFailed, ParkKind::SequenceGap]
            .into_iter()
            .find(|k| k.as_str() == name)
    }
}

/// An operator's decision on a parked tenant (`tenantry sagas retry|skip`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorAction {
    /// Run the failed saga again, then release waiting events.
    Retry,
    /// Leave the failed saga (or the missing sequence) behind and release waiting events.
    Skip,
}

impl OperatorAction {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            OperatorAction::Retry => "retry",
            OperatorAction::Skip => "skip",
        }
    }

    /// The action named `name` (the inverse of [`OperatorAction::as_str`]).
    pub fn parse(name: &str) -> Option<Self> {
        [OperatorAction::Retry, OperatorAction::Skip]
            .into_iter()
            .find(|a| a.as_str() == name)
    }
}

/// What to do with an arriving commerce event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Next in order and the tenant is not parked: release it now.
    Release,
    /// Not newer than the last released sequence: record only.
    Stale,
    /// Hold it (tenant parked, or a gap before it).
    Wait,
}

/// The admission of an arriving event and the parking change it causes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Release, stale or wait.
    pub admission: Admission,
    /// What happens to the tenant's parking.
    pub parking: ParkingChange,
}

/// A change of a tenant's parking that an admission decision causes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParkingChange {
    /// None.
    Keep,
    /// Park the tenant at a sequence gap, with this operator-facing reason.
    ParkAtGap(String),
    /// The event fills the gap the tenant is parked at: un-park it.
    Unpark,
}

/// Decides what to do with an arriving event of sequence `sequence`, given
/// the tenant's ledger (released cursor and parking):
///
/// - not newer than the cursor: [`Admission::Stale`];
/// - parked at a gap and this is the next sequence: released, un-parked;
/// - parked otherwise: [`Admission::Wait`];
/// - the next sequence: [`Admission::Release`];
/// - beyond the next: [`Admission::Wait`], parked at the gap.
pub fn admit(ledger: &Ledger, sequence: i64) -> Decision {
    let last = ledger.commerce_sequence;
    let decision = |admission, parking| Decision { admission, parking };
    if sequence <= last {
        return decision(Admission::Stale, ParkingChange::Keep);
    }
    let parked = ledger
        .parked
        .as_ref()
        .map(|p| ParkKind::parse(&p.kind).unwrap_or(ParkKind::SagaFailed));
    match parked {
        Some(ParkKind::SequenceGap) if sequence == last + 1 => {
            decision(Admission::Release, ParkingChange::Unpark)
        }
        Some(_) => decision(Admission::Wait, ParkingChange::Keep),
        None if sequence == last + 1 => decision(Admission::Release, ParkingChange::Keep),
        None => decision(
            Admission::Wait,
            ParkingChange::ParkAtGap(gap_reason(last + 1, sequence)),
        ),
    }
}

/// What to do with the lowest waiting event of a settled, un-parked tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waiting {
    /// Release it.
    Release,
    /// Already passed (an older copy was released): mark it stale.
    Stale,
    /// A gap before it: park the tenant with this reason.
    Gap(String),
}

/// Decides the fate of the lowest waiting event (sequence `sequence`) once
/// the tenant is settled, given the last released sequence `cursor`.
pub fn release_waiting(cursor: i64, sequence: i64) -> Waiting {
    if sequence <= cursor {
        Waiting::Stale
    } else if sequence > cursor + 1 {
        Waiting::Gap(gap_reason(cursor + 1, sequence))
    } else {
        Waiting::Release
    }
}

/// The operator-facing reason of a sequence gap.
pub fn gap_reason(expected: i64, received: i64) -> String {
    format!(
        "sequence gap: waiting for commerce sequence {expected}, received {received} \
         (a missing event that was dead-lettered is in `tenantry dlq list`)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tenantry_schemas::Parking;

    fn ledger(cursor: i64, parked: Option<ParkKind>) -> Ledger {
        Ledger {
            commerce_sequence: cursor,
            parked: parked.map(|kind| Parking {
                kind: kind.as_str().to_owned(),
                reason: "r".into(),
                waiting: 0,
                last_waiting: 0,
            }),
            ..Ledger::default()
        }
    }

    #[test]
    fn an_event_is_released_stale_or_held_by_its_sequence_and_the_parking() {
        use Admission::*;
        let gap = Some(ParkKind::SequenceGap);
        let failed = Some(ParkKind::SagaFailed);
        // (cursor, parked, sequence, admission, parking change is …)
        let cases = [
            (0, None, 1, Release, "keep"),
            (3, None, 4, Release, "keep"),
            (3, None, 3, Stale, "keep"),
            (3, None, 1, Stale, "keep"),
            (3, None, 5, Wait, "park"),
            (3, gap, 4, Release, "unpark"),
            (3, gap, 6, Wait, "keep"),
            (3, failed, 4, Wait, "keep"),
            (3, failed, 2, Stale, "keep"),
        ];
        for (cursor, parked, sequence, admission, change) in cases {
            let decision = admit(&ledger(cursor, parked), sequence);
            assert_eq!(
                decision.admission, admission,
                "{cursor} {parked:?} {sequence}"
            );
            let got = match decision.parking {
                ParkingChange::Keep => "keep",
                ParkingChange::ParkAtGap(_) => "park",
                ParkingChange::Unpark => "unpark",
            };
            assert_eq!(got, change, "{cursor} {parked:?} {sequence}");
        }
    }

    #[test]
    fn a_gap_names_the_missing_sequence() {
        let decision = admit(&ledger(3, None), 7);
        let ParkingChange::ParkAtGap(reason) = decision.parking else {
            panic!("not parked: {decision:?}");
        };
        assert!(
            reason.contains("waiting for commerce sequence 4, received 7"),
            "{reason}"
        );
    }

    #[test]
    fn a_waiting_event_is_released_only_when_it_is_next() {
        assert_eq!(release_waiting(3, 4), Waiting::Release);
        assert_eq!(release_waiting(3, 3), Waiting::Stale);
        assert!(matches!(release_waiting(3, 5), Waiting::Gap(_)));
    }
}
