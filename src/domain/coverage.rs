//! Coverage follows payment: whether an in-service employee-scheme member enjoys benefits on a
//! date, derived from the payments, suspensions and transfers the ledger knows.
//! docs/RULES.md §12 R2.
//!
//! Nothing here is stored: an account view asks [`coverage_on`] with the member's state as now
//! known and the date it judges, so a gap closed later within its window shows the gap days
//! covered, while a month is overdue only once the judged date is past its due day.
//!
//! The walk, month by month from the start of the first benefit episode:
//! - A month *lapses* when no counted payment for it was posted by its deadline and the judged
//!   date is past that deadline. The deadline is the policy's due day of the following month
//!   ([`RegionPolicy::last_day_due`]); for a month after a suspended month (until a payment
//!   resumes contributions) it is the day before the month begins. The month of a `suspend`
//!   itself keeps its due day for payments but lapses, while unpaid, as soon as it begins (R2:
//!   "the suspended month itself stays covered if paid").
//! - The first lapsed month begins a *gap* on its first day (a transfer-in's first gap begins
//!   the day after the origin's last paid month); its window ends `rejoin.window_days` later.
//! - The gap is *closed* when every month lapsed by the window's end was paid by then: the
//!   episode goes on, the gap days covered.
//! - Otherwise the first payment after the gap began for its own posting month or a later one
//!   *resumes*: an employer's starts benefits on its posting date; a member's own starts a wait
//!   of `rejoin.waiting_months` paid months counted from its month (`waiting`, benefits unknown
//!   while the window is open). Before a resumption the member is `suspended`.
//!
//! **Invariant**: the answer depends only on the state and the date; every walk is bounded
//! ([`SCAN_STEPS_MAX`]).

use chrono::{Days, NaiveDate};

use super::{MemberState, Status};
use crate::month::Month;
use crate::policy::{NotInForce, RegionPolicy};
use crate::terms::Payer;

/// Most gaps one walk handles; a history holds at most one per month of the ledger's years.
pub const SCAN_STEPS_MAX: usize = 4000;

/// An in-service member's status and first day of benefits on a date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoverageOn {
    /// `active`, `waiting` or `suspended` (or a lifecycle status).
    pub status: Status,
    /// First day of the current benefit period, once known.
    pub benefits_from: Option<NaiveDate>,
}

/// A gap in contributions: its first month, the day it began, and the last day of its window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    /// The first unpaid month.
    pub first_month: Month,
    /// The day the gap began (benefits stop).
    pub began_on: NaiveDate,
    /// The last day on which paying the gap months keeps benefits continuous.
    pub window_ends: NaiveDate,
}

/// The status and benefits of `known` (the member's state as now known) on `on`. Lifecycle
/// events dated on or before `on` come first: closed, deceased, retired. docs/RULES.md §12 R2.
pub fn coverage_on(
    known: &MemberState,
    policy: &RegionPolicy,
    on: NaiveDate,
) -> Result<CoverageOn, NotInForce> {
    let before = |d: Option<NaiveDate>| d.is_some_and(|d| d <= on);
    let lifecycle = |status| CoverageOn {
        status,
        benefits_from: None,
    };
    if before(known.closed_on) {
        return Ok(lifecycle(Status::Closed));
    }
    if before(known.died_on) {
        return Ok(lifecycle(Status::Deceased));
    }
    if before(known.retired_on) {
        return Ok(CoverageOn {
            status: Status::Retired,
            benefits_from: known.benefits_from,
        });
    }
    Ok(Walk::new(known, policy).run(on)?.0)
}

/// The gap a member's own makeup payment posted on `on` may close (R1): the latest gap the walk
/// met by `on`. A member with no payment yet is in a gap since the enrolment month.
pub fn current_gap(
    known: &MemberState,
    policy: &RegionPolicy,
    on: NaiveDate,
) -> Result<Option<Gap>, NotInForce> {
    Ok(Walk::new(known, policy).run(on)?.1)
}

/// Whether a contribution for `month` posted on `posted` pays a past month (R1): a month before
/// the posting month whose deadline had passed (overdue, or after a suspension).
pub fn is_past_month(
    known: &MemberState,
    policy: &RegionPolicy,
    month: Month,
    posted: NaiveDate,
) -> bool {
    if month >= Month::of(posted) {
        return false;
    }
    // A deadline is never after the due day: past it, the month is past whatever else holds;
    // before it, only a suspension or a transfer can have moved the deadline earlier.
    if posted > policy.last_day_due(month) {
        return true;
    }
    let moved = !known.suspensions.is_empty() || known.origin_last_paid.is_some();
    moved && Walk::new(known, policy).deadline(month) < posted
}

/// One counted payment.
#[derive(Clone, Copy, Debug)]
struct Paid {
    month: Month,
    payer: Payer,
    posted: NaiveDate,
}

/// What the member is in while no gap interrupts it.
#[derive(Clone, Copy, Debug)]
enum Episode {
    /// Benefits from `from`.
    Covered { from: NaiveDate },
    /// Benefits after `needed` paid months counted from `from_month`, or from an employer's
    /// declaration posted on or after `since`; unknown while the window ending on `window_ends`
    /// is open.
    Waiting {
        from_month: Month,
        needed: u32,
        since: NaiveDate,
        window_ends: Option<NaiveDate>,
    },
}

struct Walk<'a> {
    state: &'a MemberState,
    policy: &'a RegionPolicy,
    /// Counted payments by posting date (employers first on a day), then month.
    payments: Vec<Paid>,
    /// Suspension dates with the month of the payment that resumed contributions after each.
    suspensions: Vec<(NaiveDate, Option<Month>)>,
}

fn waiting(benefits_from: Option<NaiveDate>) -> CoverageOn {
    CoverageOn {
        status: Status::Waiting,
        benefits_from,
    }
}

fn from_date(on: NaiveDate, from: Option<NaiveDate>) -> CoverageOn {
    match from {
        Some(from) if from <= on => CoverageOn {
            status: Status::Active,
            benefits_from: Some(from),
        },
        other => waiting(other),
    }
}

impl<'a> Walk<'a> {
    fn new(state: &'a MemberState, policy: &'a RegionPolicy) -> Walk<'a> {
        let mut payments: Vec<Paid> = state
            .months
            .iter()
            .flat_map(|(month, cover)| {
                [Payer::Employer, Payer::Individual]
                    .into_iter()
                    .filter(|p| cover.paid_by(*p))
                    .filter_map(move |payer| {
                        cover.payment(payer).map(|p| Paid {
                            month: *month,
                            payer,
                            posted: p.posted,
                        })
                    })
            })
            .collect();
        payments.sort_by_key(|p| (p.posted, p.payer, p.month));
        let mut walk = Walk {
            state,
            policy,
            payments,
            suspensions: Vec::new(),
        };
        let mut dates = state.suspensions.clone();
        // A transfer-in: the origin's cover ended with its last paid month, as by a suspension.
        dates.extend(state.origin_last_paid.map(Month::last_day));
        dates.sort();
        walk.suspensions = dates
            .into_iter()
            .map(|s| (s, walk.resumed_after(s)))
            .collect();
        walk
    }

    /// The month of the first payment that resumed contributions after a suspension on `s`.
    fn resumed_after(&self, s: NaiveDate) -> Option<Month> {
        self.payments
            .iter()
            .find(|p| p.posted >= s && p.month.first_day() >= s && p.month >= Month::of(p.posted))
            .map(|p| p.month)
    }

    fn first_posted(&self, month: Month) -> Option<NaiveDate> {
        let cover = self.state.months.get(&month)?;
        [Payer::Employer, Payer::Individual]
            .into_iter()
            .filter(|p| cover.paid_by(*p))
            .filter_map(|p| cover.payment(p).map(|x| x.posted))
            .min()
    }

    /// The last day a month may be posted before it lapses.
    fn deadline(&self, month: Month) -> NaiveDate {
        let suspended = self
            .suspensions
            .iter()
            .any(|(s, resumed)| Month::of(*s) < month && resumed.is_none_or(|r| month < r));
        match month.first_day().pred_opt() {
            Some(eve) if suspended => eve,
            _ => self.policy.last_day_due(month),
        }
    }

    /// The last day `month` is covered while unpaid: its posting deadline, or the day before it
    /// begins for the month of a `suspend` (covered only if paid, R2).
    fn lapses_after(&self, month: Month) -> NaiveDate {
        let suspended_in = self
            .state
            .suspensions
            .iter()
            .any(|s| Month::of(*s) == month);
        match month.first_day().pred_opt() {
            Some(eve) if suspended_in => eve,
            _ => self.deadline(month),
        }
    }

    /// Whether `month` has lapsed on `on`; `relax` (a closed gap) extends deadlines to its window.
    fn lapsed(&self, month: Month, on: NaiveDate, relax: Option<(Month, NaiveDate)>) -> bool {
        let mut deadline = self.deadline(month);
        let mut lapses_after = self.lapses_after(month);
        if let Some((_, window_ends)) = relax.filter(|(first, _)| month >= *first) {
            deadline = deadline.max(window_ends);
            lapses_after = lapses_after.max(window_ends);
        }
        on > lapses_after && self.first_posted(month).is_none_or(|p| p > deadline)
    }

    fn first_lapse(
        &self,
        from: Month,
        on: NaiveDate,
        relax: Option<(Month, NaiveDate)>,
    ) -> Option<Month> {
        let last = Month::of(on);
        let mut month = from;
        while month <= last {
            if self.lapsed(month, on, relax) {
                return Some(month);
            }
            month = month.next();
        }
        None
    }

    /// Every month from `first` whose deadline passed before the window's end was paid by then.
    fn closed(&self, first: Month, window_ends: NaiveDate) -> bool {
        let last = Month::of(window_ends);
        let mut month = first;
        while month <= last {
            let due_before_end = self.lapses_after(month) < window_ends;
            if due_before_end && self.first_posted(month).is_none_or(|p| p > window_ends) {
                return false;
            }
            month = month.next();
        }
        true
    }

    /// The first payment posted on or after `since` for month `first` or later, and for its own
    /// posting month or a later one: the payment that resumes contributions after a gap.
    fn resumption(&self, first: Month, since: NaiveDate) -> Option<Paid> {
        self.payments
            .iter()
            .find(|p| p.posted >= since && p.month >= first && p.month >= Month::of(p.posted))
            .copied()
    }

    /// The `needed`th paid month from `from_month` on.
    fn nth_paid(&self, from_month: Month, needed: u32) -> Option<Month> {
        let index = usize::try_from(needed.max(1) - 1).ok()?;
        self.state
            .months
            .range(from_month..)
            .filter(|(_, c)| c.counts())
            .map(|(m, _)| *m)
            .nth(index)
    }

    fn judge(&self, episode: Episode, on: NaiveDate) -> CoverageOn {
        match episode {
            Episode::Covered { from } => from_date(on, Some(from)),
            Episode::Waiting {
                from_month,
                needed,
                since,
                window_ends,
            } => {
                // An employer's declaration ends any wait from its posting date [000 Q28].
                let employer = self
                    .payments
                    .iter()
                    .find(|p| {
                        p.payer == Payer::Employer
                            && p.posted >= since
                            && p.month >= Month::of(p.posted)
                    })
                    .map(|p| p.posted);
                if let Some(from) = employer.filter(|d| *d <= on) {
                    return from_date(on, Some(from));
                }
                if window_ends.is_some_and(|w| on <= w) {
                    return waiting(None);
                }
                let paid = self
                    .nth_paid(from_month, needed)
                    .map(|m| m.next().first_day());
                from_date(on, [paid, employer].into_iter().flatten().min())
            }
        }
    }

    fn window(&self, began: NaiveDate) -> Result<Gap, NotInForce> {
        let rejoin = self.policy.rejoin(began)?;
        let window_ends = began
            .checked_add_days(Days::new(u64::from(rejoin.value.window_days)))
            .unwrap_or(NaiveDate::MAX);
        Ok(Gap {
            first_month: Month::of(began),
            began_on: began,
            window_ends,
        })
    }

    /// The first episode: the transfer's origin cover, the first employer declaration, or the
    /// new individual's wait; `None` before any payment.
    fn first_episode(&self) -> Result<Option<(Episode, Month)>, NotInForce> {
        let Some(profile) = self.state.profile.as_ref() else {
            return Ok(None);
        };
        let enrolled = profile.enrolled_on;
        let enrolment_month = Month::of(enrolled);
        if let Some(last) = self.state.origin_last_paid {
            let first = last.next().max(enrolment_month);
            return Ok(Some((Episode::Covered { from: enrolled }, first)));
        }
        let Some(first) = self.payments.first() else {
            return Ok(None);
        };
        if first.payer == Payer::Employer {
            let on_time = first.month == enrolment_month
                && first.posted <= self.policy.last_day_due(enrolment_month);
            let from = if on_time { enrolled } else { first.posted };
            return Ok(Some((Episode::Covered { from }, Month::of(from))));
        }
        let needed = self
            .policy
            .coverage(enrolled)?
            .value
            .new_individual_wait_months;
        let episode = Episode::Waiting {
            from_month: enrolment_month,
            needed,
            since: enrolled,
            window_ends: None,
        };
        Ok(Some((episode, enrolment_month)))
    }

    /// The judgement on `on` and the latest gap met.
    fn run(&self, on: NaiveDate) -> Result<(CoverageOn, Option<Gap>), NotInForce> {
        let Some(profile) = self.state.profile.as_ref() else {
            return Ok((waiting(None), None));
        };
        let Some((mut episode, mut scan_from)) = self.first_episode()? else {
            let gap = self.window(Month::of(profile.enrolled_on).first_day())?;
            return Ok((waiting(None), Some(gap)));
        };
        // The transfer's first local month begins its gap the day after the origin's last month;
        // when months lie between the two (not local, never payable here), the gap is certain.
        let transfer = self
            .state
            .origin_last_paid
            .map(|last| (scan_from, last.next().first_day()));
        let mut forced = transfer
            .filter(|(first, began)| *first > Month::of(*began))
            .map(|(first, _)| first);
        let mut relax = None;
        let mut last_gap = None;
        for _ in 0..SCAN_STEPS_MAX {
            let Some(first) = forced
                .take()
                .or_else(|| self.first_lapse(scan_from, on, relax))
            else {
                return Ok((self.judge(episode, on), last_gap));
            };
            let began = match transfer {
                Some((month, began)) if month == first => began,
                _ => first.first_day(),
            };
            let mut gap = self.window(began)?;
            gap.first_month = first;
            last_gap = Some(gap);
            // A transfer's gap closes only if the member enrolled here within its window.
            let enrolled_in_time = profile.enrolled_on <= gap.window_ends;
            if enrolled_in_time && self.closed(first, gap.window_ends) {
                relax = Some((first, gap.window_ends));
                scan_from = first.next();
                continue;
            }
            let Some(resumed) = self.resumption(first, began).filter(|p| p.posted <= on) else {
                let suspended = CoverageOn {
                    status: Status::Suspended,
                    benefits_from: None,
                };
                return Ok((suspended, last_gap));
            };
            relax = None;
            episode = match resumed.payer {
                Payer::Employer => Episode::Covered {
                    from: resumed.posted,
                },
                Payer::Individual => Episode::Waiting {
                    from_month: resumed.month,
                    needed: self.policy.rejoin(resumed.posted)?.value.waiting_months,
                    since: resumed.posted,
                    window_ends: Some(gap.window_ends),
                },
            };
            scan_from = resumed.month.max(first.next());
        }
        Ok((waiting(None), last_gap))
    }
}
