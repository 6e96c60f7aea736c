//! Model-based property test: random sequences of commands across four members (enrol, contribute
//! as employer or individual, spend, suspend, recognise deemed months, transfer in, record death,
//! settle an inheritance), mixed with malformed commands, retries with the same key, a key reused
//! for another command, and restarts (the ledger dropped and its directory reopened).
//!
//! The reference model below shares no code with the ledger's domain: it holds balances in integer
//! fen and recomputes the few rules it needs from docs/RULES.md, on a timeline chosen so that each
//! rule stays simple (all contribution months fall after the Luzhou reform of 2023-01-01, so an
//! account credit is the member's own 2 % of the wage, rounded half-up to the fen; every debit is
//! dated after every credit). Contributions may be posted late (up to 2024-07-31) and for the
//! month before enrolment, so the model decides R1 (`before_enrolment`, `makeup_not_allowed`)
//! and derives R2's status and `benefits_from` from the payments on the view's date. After every
//! step each member's account view must equal the model, and the log must hold: money conserved,
//! no negative balance, gapless positions, checkpoints equal to a replay, and an intact hash chain
//! (`verify`).
//!
//! `PROPTEST_CASES` sets the number of sequences (default 128, about 15 s in debug).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use member_ledger::projection::ViewAt;
use member_ledger::store::{SledStore, StoreOptions};
use member_ledger::{Ledger, QueryError, SubmitError};
use proptest::prelude::*;

const MEMBERS: u8 = 4;
const CASES_DEFAULT: u32 = 128;
/// Contribution months: 2023-01 plus 0..18, all before the suspension date and the death; -1 is
/// 2022-12, before enrolment.
const MONTHS: i8 = 18;
/// Latest posting date of a late contribution: every credit stays dated before every debit.
const LATE_POSTING_MAX: &str = "2024-07-31";
// The timeline, chosen so that every credit is dated before every debit.
const ENROLLED_ON: &str = "2023-01-01";
const TRANSFER_ON: &str = "2024-03-01";
const DEEMED_ON: &str = "2024-05-01";
const SUSPENDED_ON: &str = "2024-07-01";
const DIED_ON: &str = "2024-08-31";
const SETTLED_ON: &str = "2024-09-05";
const SPENT_ON: &str = "2024-09-10";

fn member(i: u8) -> String {
    format!("00000000-0000-4000-8000-0000000000{:02x}", 0xa0 + i)
}

/// Month `i` (0 = 2023-01): its first day.
fn first_day(i: i32) -> NaiveDate {
    let index = 2023 * 12 + i;
    NaiveDate::from_ymd_opt(
        index.div_euclid(12),
        u32::try_from(index.rem_euclid(12)).expect("month") + 1,
        1,
    )
    .expect("month")
}

fn last_day(i: i32) -> NaiveDate {
    first_day(i + 1).pred_opt().expect("last day")
}

fn month_index(date: NaiveDate) -> i32 {
    (date.year() - 2023) * 12 + i32::try_from(date.month0()).expect("month")
}

fn month(i: i8) -> (String, String) {
    let first = first_day(i32::from(i));
    (
        format!("{:04}-{:02}", first.year(), first.month()),
        last_day(i32::from(i)).to_string(),
    )
}

/// When a contribution of month `i` is posted: its last day, or `late` months later (capped).
fn posting(i: i8, late: u8) -> NaiveDate {
    let cap: NaiveDate = LATE_POSTING_MAX.parse().expect("date");
    last_day(i32::from(i) + i32::from(late))
        .min(cap)
        .max(last_day(i32::from(i)))
}

fn yuan(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

#[derive(Clone, Debug)]
enum Op {
    Enroll(u8),
    Contribute {
        who: u8,
        month: i8,
        employer: bool,
        wage_fen: i64,
        /// Posted this many months after the month's last day (0: on it).
        late: u8,
    },
    Spend(u8, i64),
    Suspend(u8),
    Deemed(u8, u32),
    TransferIn(u8, i64, u32),
    Death(u8),
    /// Heirs: none (pooled fund), one, or two halves.
    Settle(u8, Vec<u8>),
    /// A malformed command (always `invalid_input`).
    Malformed(u8),
    /// The command of an earlier step again, with its key.
    Retry(usize),
    /// An earlier accepted key with another command (`key_reused`).
    ReuseKey(usize),
    Restart,
}

/// A run of on-time payments by one payer (months `from` … `from + count - 1`), so that
/// contiguous careers, waits of six paid months and closed gaps occur often.
fn run_of_payments() -> impl Strategy<Value = Vec<Op>> {
    (
        0..MEMBERS,
        0..MONTHS,
        1u8..10,
        any::<bool>(),
        100_000i64..900_000,
    )
        .prop_map(|(who, from, count, employer, wage_fen)| {
            (from..MONTHS.min(from.saturating_add(i8::try_from(count).unwrap_or(1))))
                .map(|month| Op::Contribute {
                    who,
                    month,
                    employer,
                    wage_fen,
                    late: 0,
                })
                .collect()
        })
}

/// Ops and runs of payments, flattened.
fn ops() -> impl Strategy<Value = Vec<Op>> {
    let one = op().prop_map(|o| vec![o]);
    prop::collection::vec(prop_oneof![4 => one, 1 => run_of_payments()], 1..40)
        .prop_map(|groups| groups.into_iter().flatten().collect())
}

fn op() -> impl Strategy<Value = Op> {
    let who = 0..MEMBERS;
    prop_oneof![
        3 => who.clone().prop_map(Op::Enroll),
        8 => (who.clone(), -1..MONTHS, any::<bool>(), 1_000i64..3_000_000, prop_oneof![3 => Just(0u8), 1 => 1u8..6]).prop_map(|(who, month, employer, wage_fen, late)| Op::Contribute { who, month, employer, wage_fen, late }),
        4 => (who.clone(), 1i64..40_000).prop_map(|(w, f)| Op::Spend(w, f)),
        1 => who.clone().prop_map(Op::Suspend),
        1 => (who.clone(), 1u32..60).prop_map(|(w, m)| Op::Deemed(w, m)),
        2 => (who.clone(), 0i64..100_000, 0u32..60).prop_map(|(w, f, m)| Op::TransferIn(w, f, m)),
        1 => who.clone().prop_map(Op::Death),
        2 => (who.clone(), prop::collection::vec(0..MEMBERS + 1, 0..3)).prop_map(|(w, h)| Op::Settle(w, h)),
        1 => (0u8..4).prop_map(Op::Malformed),
        2 => any::<usize>().prop_map(Op::Retry),
        1 => any::<usize>().prop_map(Op::ReuseKey),
        1 => Just(Op::Restart),
    ]
}

/// The command line of an op (for the ops that are commands).
fn line(op: &Op, key: &str) -> String {
    let body = match op {
        Op::Enroll(w) => format!(
            r#""type":"enroll","member":"{}","region":"luzhou","scheme":"employee","sex":"female","birth_date":"1990-01-01","date":"{ENROLLED_ON}""#,
            member(*w)
        ),
        Op::Contribute {
            who,
            month: m,
            employer,
            wage_fen,
            late,
        } => {
            let payer = if *employer { "employer" } else { "individual" };
            format!(
                r#""type":"contribute","member":"{}","month":"{}","wage":"{}","payer":"{payer}","date":"{}""#,
                member(*who),
                month(*m).0,
                yuan(*wage_fen),
                posting(*m, *late)
            )
        }
        Op::Spend(w, fen) => format!(
            r#""type":"spend","member":"{}","date":"{SPENT_ON}","amount":"{}","purpose":"pharmacy""#,
            member(*w),
            yuan(*fen)
        ),
        Op::Suspend(w) => format!(
            r#""type":"suspend","member":"{}","date":"{SUSPENDED_ON}","reason":"other""#,
            member(*w)
        ),
        Op::Deemed(w, months) => format!(
            r#""type":"recognize_deemed","member":"{}","date":"{DEEMED_ON}","months":{months},"basis":"military""#,
            member(*w)
        ),
        Op::TransferIn(w, fen, months) => format!(
            r#""type":"transfer_in","member":"{}","date":"{TRANSFER_ON}","from_region":"chongqing","balance":"{}","months":{months}"#,
            member(*w),
            yuan(*fen)
        ),
        Op::Death(w) => format!(
            r#""type":"record_death","member":"{}","date":"{DIED_ON}""#,
            member(*w)
        ),
        Op::Settle(w, heirs) => {
            let share = if heirs.len() == 2 { "0.5" } else { "1" };
            let list: Vec<String> = heirs
                .iter()
                .map(|h| {
                    format!(
                        r#"{{"heir":"{}","name":"heir {h}","share":"{share}"}}"#,
                        member(*h)
                    )
                })
                .collect();
            format!(
                r#""type":"settle_inheritance","member":"{}","date":"{SETTLED_ON}","heirs":[{}]"#,
                member(*w),
                list.join(",")
            )
        }
        Op::Malformed(kind) => {
            return match kind {
                0 => "{\"type\":\"spend\",".to_string(),
                1 => format!(
                    r#"{{"type":"spend","member":"{}","date":"{SPENT_ON}","amount":"1.001","purpose":"pharmacy","key":"{key}"}}"#,
                    member(0)
                ),
                2 => format!(
                    r#"{{"type":"record_death","member":"{}","date":"{DIED_ON}","cause":"x","key":"{key}"}}"#,
                    member(0)
                ),
                _ => format!(
                    r#"{{"type":"suspend","member":"{}","date":"2024-02-30","reason":"other","key":"{key}"}}"#,
                    member(0)
                ),
            }
        }
        Op::Retry(_) | Op::ReuseKey(_) | Op::Restart => unreachable!("not a command"),
    };
    format!(r#"{{{body},"key":"{key}"}}"#)
}

/// The reference model of one member, in fen.
#[derive(Clone, Debug, Default, PartialEq)]
struct Account {
    enrolled: bool,
    balance: i64,
    credited: i64,
    debited: i64,
    /// Months paid, by whom (`true`: employer), and when posted.
    paid: BTreeMap<(i32, bool), NaiveDate>,
    deemed: u32,
    /// The suspension date (one per member in this timeline).
    suspended_on: Option<NaiveDate>,
    died: bool,
    closed: bool,
    /// Latest effective date of any event (ISO dates order as text).
    last_date: String,
}

/// R2 in the model's own terms, on month indices (0 = 2023-01) for a Luzhou member enrolled on
/// 2023-01-01: a 90-day window from a gap's first day, a 6-month wait after resuming as an
/// individual or first enrolling as one, months due by the last day of the following month,
/// months after the suspended one due before they begin, the suspended month itself covered only
/// if paid (a gap month from its first day while unpaid). No payment in this timeline resumes
/// after the suspension (every month paid is before it), so a suspension never ends.
mod r2 {
    use super::{first_day, last_day, month_index, Account};
    use chrono::NaiveDate;

    const WINDOW_DAYS: u64 = 90;
    const WAIT_MONTHS: usize = 6;

    /// (month, employer, posted) of every payment, by posting date, employers first.
    fn payments(a: &Account) -> Vec<(i32, bool, NaiveDate)> {
        let mut p: Vec<(i32, bool, NaiveDate)> =
            a.paid.iter().map(|((m, e), d)| (*m, *e, *d)).collect();
        p.sort_by_key(|(m, e, d)| (*d, !*e, *m));
        p
    }

    fn first_posted(a: &Account, m: i32) -> Option<NaiveDate> {
        a.paid
            .iter()
            .filter(|((month, _), _)| *month == m)
            .map(|(_, d)| *d)
            .min()
    }

    pub fn deadline(a: &Account, m: i32) -> NaiveDate {
        match a.suspended_on {
            Some(s) if month_index(s) < m => first_day(m).pred_opt().expect("eve"),
            _ => last_day(m + 1),
        }
    }

    /// The last day month `m` is covered while unpaid.
    fn lapses_after(a: &Account, m: i32) -> NaiveDate {
        match a.suspended_on {
            Some(s) if month_index(s) == m => first_day(m).pred_opt().expect("eve"),
            _ => deadline(a, m),
        }
    }

    fn lapsed(a: &Account, m: i32, on: NaiveDate, relax_from: Option<(i32, NaiveDate)>) -> bool {
        let mut deadline = deadline(a, m);
        let mut lapses_after = lapses_after(a, m);
        if let Some((g, w)) = relax_from {
            if m >= g {
                deadline = deadline.max(w);
                lapses_after = lapses_after.max(w);
            }
        }
        on > lapses_after && first_posted(a, m).is_none_or(|p| p > deadline)
    }

    /// `Ok((status, benefits_from))` on `on`, or `Err(gap)` of the latest gap met: the
    /// walk's result and the gap R1 checks a makeup against.
    pub fn walk(
        a: &Account,
        on: NaiveDate,
    ) -> ((&'static str, Option<NaiveDate>), Option<(i32, NaiveDate)>) {
        let pays = payments(a);
        let enrolled: NaiveDate = super::ENROLLED_ON.parse().expect("date");
        let window = |m: i32| first_day(m) + chrono::Days::new(WINDOW_DAYS);
        let Some(&(first_month, employer, posted)) = pays.first() else {
            return (("waiting", None), Some((0, window(0))));
        };
        // (employer start, or individual wait from a month, since a date, window end)
        let mut covered_from: Option<NaiveDate> = None;
        let mut wait: Option<(i32, NaiveDate, Option<NaiveDate>)> = None;
        let mut scan = 0;
        if employer {
            let start = if first_month == 0 && posted <= last_day(1) {
                enrolled
            } else {
                posted
            };
            covered_from = Some(start);
            scan = month_index(start);
        } else {
            wait = Some((0, enrolled, None));
        }
        let mut relax = None;
        let mut last_gap = None;
        loop {
            let lapse = (scan..=month_index(on)).find(|m| lapsed(a, *m, on, relax));
            let Some(g) = lapse else { break };
            let w = window(g);
            last_gap = Some((g, w));
            let closed = (g..=month_index(w))
                .all(|m| lapses_after(a, m) >= w || first_posted(a, m).is_some_and(|p| p <= w));
            if closed {
                relax = Some((g, w));
                scan = g + 1;
                continue;
            }
            let resumed = pays
                .iter()
                .find(|(m, _, d)| *d >= first_day(g) && *m >= g && *m >= month_index(*d));
            match resumed {
                Some(&(m, true, d)) if d <= on => {
                    covered_from = Some(d);
                    wait = None;
                    scan = m.max(g + 1);
                }
                Some(&(m, false, d)) if d <= on => {
                    covered_from = None;
                    wait = Some((m, d, Some(w)));
                    scan = m.max(g + 1);
                }
                _ => return (("suspended", None), last_gap),
            }
            relax = None;
        }
        let from = match (covered_from, wait) {
            (Some(from), _) => Some(from),
            (None, Some((from_month, since, window_end))) => {
                let employer = pays
                    .iter()
                    .find(|(m, e, d)| *e && *d >= since && *m >= month_index(*d))
                    .map(|(_, _, d)| *d);
                if let Some(e) = employer.filter(|d| *d <= on) {
                    Some(e)
                } else if window_end.is_some_and(|w| on <= w) {
                    None
                } else {
                    let mut months: Vec<i32> = a
                        .paid
                        .keys()
                        .map(|(m, _)| *m)
                        .filter(|m| *m >= from_month)
                        .collect();
                    months.dedup();
                    let sixth = months.get(WAIT_MONTHS - 1).map(|m| first_day(m + 1));
                    [sixth, employer].into_iter().flatten().min()
                }
            }
            (None, None) => None,
        };
        match from {
            Some(d) if d <= on => (("active", Some(d)), last_gap),
            other => (("waiting", other), last_gap),
        }
    }
}

impl Account {
    fn months_actual(&self) -> usize {
        self.paid
            .keys()
            .map(|(m, _)| *m)
            .collect::<BTreeSet<_>>()
            .len()
    }

    /// Status and first day of benefits on the view's date (the latest event's).
    fn coverage(&self) -> (&'static str, Option<NaiveDate>) {
        self.coverage_on(self.last_date.parse().expect("date"))
    }

    /// Status and first day of benefits on `on`, as now known.
    fn coverage_on(&self, on: NaiveDate) -> (&'static str, Option<NaiveDate>) {
        let day = |d: &str| d.parse::<NaiveDate>().expect("date");
        if self.closed && day(SETTLED_ON) <= on {
            return ("closed", None);
        }
        if self.died && day(DIED_ON) <= on {
            return ("deceased", None);
        }
        r2::walk(self, on).0
    }

    fn touch(&mut self, date: &str) {
        if date > self.last_date.as_str() {
            self.last_date = date.to_string();
        }
    }

    fn credit(&mut self, fen: i64, date: &str) {
        self.balance += fen;
        self.credited += fen;
        self.touch(date);
    }

    fn debit(&mut self, fen: i64, date: &str) {
        self.balance -= fen;
        self.debited += fen;
        self.touch(date);
    }
}

#[derive(Clone, Debug, Default)]
struct Model {
    accounts: BTreeMap<u8, Account>,
    /// Money that entered the ledger (contribution credits, transfers in) and left it (spending,
    /// payouts to heirs outside the ledger, the pooled fund).
    inflow: i64,
    outflow: i64,
    events: u64,
}

type Outcome = Result<u64, &'static str>;

impl Model {
    fn account(&self, who: u8) -> Account {
        self.accounts.get(&who).cloned().unwrap_or_default()
    }

    /// The checks every command on an existing account starts with (docs/RULES.md §9: a closed
    /// account takes nothing more).
    fn open(&self, who: u8) -> Result<Account, &'static str> {
        let a = self.account(who);
        if !a.enrolled {
            return Err("unknown_member");
        }
        if a.closed {
            return Err("account_closed");
        }
        Ok(a)
    }

    /// Decides and applies one command op; returns the number of events or the rejection code.
    fn submit(&mut self, op: &Op) -> Outcome {
        let (who, a, events) = match op {
            Op::Enroll(w) => {
                if self.account(*w).enrolled {
                    return Err("already_enrolled");
                }
                let mut a = Account {
                    enrolled: true,
                    ..Account::default()
                };
                a.touch(ENROLLED_ON);
                (*w, a, 1)
            }
            Op::Contribute {
                who,
                month: m,
                employer,
                wage_fen,
                late,
            } => {
                if !self.account(*who).enrolled {
                    return Err("unknown_member");
                }
                if *m < 0 {
                    return Err("before_enrolment"); // R1, whoever pays
                }
                let mut a = self.open(*who)?;
                let posted = posting(*m, *late);
                let i = i32::from(*m);
                // R1: a member's past month only inside the current gap's window.
                let past = i < month_index(posted) && r2::deadline(&a, i) < posted;
                if past && !*employer {
                    let gap = r2::walk(&a, posted).1;
                    if !gap.is_some_and(|(g, w)| i >= g && posted <= w) {
                        return Err("makeup_not_allowed");
                    }
                }
                if a.paid.contains_key(&(i, *employer)) {
                    return Err("duplicate_month"); // one payment per payer and month
                }
                a.paid.insert((i, *employer), posted);
                // Own 2 % of the wage (the base: Luzhou has no wage table for 2023 or 2024),
                // half-up to the fen.
                let credit = (wage_fen * 2 + 50) / 100;
                a.credit(credit, &posted.to_string());
                self.inflow += credit;
                (*who, a, 1)
            }
            Op::Spend(w, fen) => {
                let mut a = self.open(*w)?;
                if a.died {
                    return Err("after_death"); // spending is dated after the death
                }
                if *fen > a.balance {
                    return Err("insufficient_balance");
                }
                a.debit(*fen, SPENT_ON);
                self.outflow += fen;
                (*w, a, 1)
            }
            Op::Suspend(w) => {
                let mut a = self.open(*w)?;
                if a.suspended_on.is_some() {
                    return Err("already_suspended");
                }
                a.suspended_on = Some(SUSPENDED_ON.parse().expect("date"));
                a.touch(SUSPENDED_ON);
                (*w, a, 1)
            }
            Op::Deemed(w, months) => {
                let mut a = self.open(*w)?;
                a.deemed += months;
                a.touch(DEEMED_ON);
                (*w, a, 1)
            }
            Op::TransferIn(w, fen, months) => {
                let mut a = self.open(*w)?;
                a.deemed += months; // transferred months are deemed months (docs/RULES.md §3)
                a.credit(*fen, TRANSFER_ON);
                self.inflow += fen;
                (*w, a, 1)
            }
            Op::Death(w) => {
                let mut a = self.open(*w)?;
                if a.died {
                    return Err("already_deceased");
                }
                a.died = true;
                a.touch(DIED_ON);
                (*w, a, 1)
            }
            Op::Settle(w, heirs) => return self.settle(*w, heirs),
            Op::Malformed(_) => return Err("invalid_input"),
            Op::Retry(_) | Op::ReuseKey(_) | Op::Restart => unreachable!("not a command"),
        };
        self.accounts.insert(who, a);
        self.events += events;
        Ok(events)
    }

    /// docs/RULES.md §9: the balance goes to the heirs by share (each rounded down, the fen left
    /// over to the earlier heir), into an heir's account when the heir is an open, living employee
    /// here, else paid out; with no heirs, to the pooled fund. The account closes.
    fn settle(&mut self, who: u8, heirs: &[u8]) -> Outcome {
        let mut a = self.open(who)?;
        if !a.died {
            return Err("not_deceased");
        }
        if a.last_date.as_str() > SETTLED_ON {
            return Err("invalid_input"); // a closing debit may not predate an event
        }
        let balance = a.balance;
        let amounts: Vec<i64> = match heirs.len() {
            0 => vec![],
            1 => vec![balance],
            _ => vec![balance - balance / 2, balance / 2],
        };
        a.debit(balance, SETTLED_ON);
        a.closed = true;
        self.accounts.insert(who, a);
        let mut events = 1;
        if heirs.is_empty() {
            self.outflow += balance;
        }
        for (heir, amount) in heirs.iter().zip(amounts) {
            let h = self.account(*heir);
            let receives = *heir != who && h.enrolled && !h.closed && !h.died;
            if !receives {
                self.outflow += amount;
            } else if amount > 0 {
                let mut h = h;
                h.credit(amount, SETTLED_ON);
                self.accounts.insert(*heir, h);
                events += 1;
            }
        }
        self.events += events;
        Ok(events)
    }
}

fn open(path: &std::path::Path) -> Ledger {
    let options = StoreOptions {
        fsync: false, // not a durability test (tests/crash.rs and tests/faults.rs are)
        ..StoreOptions::default()
    };
    let store = SledStore::open_with(path, options).expect("open");
    Ledger::with_store(Arc::new(store), member_ledger::policy::PolicySet::shipped())
}

fn fen_of(m: member_ledger::money::Money) -> i64 {
    m.fen()
}

async fn check(ledger: &Ledger, model: &Model, step: usize) -> Result<(), TestCaseError> {
    let mut balances = 0;
    for who in 0..MEMBERS {
        let id = member(who).parse().expect("uuid");
        let expected = model.account(who);
        match ledger.account(id, ViewAt::Head).await {
            Err(QueryError::UnknownMember(_)) => {
                prop_assert!(!expected.enrolled, "step {step}: member {who} unknown")
            }
            Err(e) => return Err(TestCaseError::fail(format!("step {step}: {e}"))),
            Ok(view) => {
                prop_assert!(expected.enrolled, "step {}: member {} known", step, who);
                let got = (
                    fen_of(view.balance),
                    fen_of(view.credited),
                    fen_of(view.debited),
                );
                let want = (expected.balance, expected.credited, expected.debited);
                prop_assert_eq!(
                    got,
                    want,
                    "step {}: member {} balance, credited, debited",
                    step,
                    who
                );
                prop_assert_eq!(
                    view.months.actual as usize,
                    expected.months_actual(),
                    "step {}: member {} actual months",
                    step,
                    who
                );
                prop_assert_eq!(
                    view.months.deemed,
                    expected.deemed,
                    "step {}: member {} deemed",
                    step,
                    who
                );
                prop_assert_eq!(view.months.total, view.months.actual + view.months.deemed);
                let status = serde_json::to_value(view.status).expect("status");
                let (want_status, want_from) = expected.coverage();
                prop_assert_eq!(
                    (status.as_str(), view.benefits_from),
                    (Some(want_status), want_from),
                    "step {}: member {} status and benefits_from on {}",
                    step,
                    who,
                    expected.last_date
                );
                prop_assert!(view.balance.fen() >= 0, "no negative balance");
                balances += view.balance.fen();
            }
        }
    }
    prop_assert_eq!(
        balances,
        model.inflow - model.outflow,
        "step {}: money conserved",
        step
    );
    let head = ledger.head().expect("head").position;
    prop_assert_eq!(head, model.events, "step {}: events appended", step);
    let events = ledger.log().read_from(1, usize::MAX).expect("read");
    let positions: Vec<u64> = events.iter().map(|e| e.position).collect();
    prop_assert_eq!(positions, (1..=head).collect::<Vec<_>>(), "gapless");
    let report = ledger.verify(|_, _| {}).await.expect("chain");
    prop_assert!(report.is_clean(), "step {}: {}", step, report);
    Ok(())
}

/// Runs one sequence against a fresh ledger and the model.
async fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ledger = open(dir.path());
    let mut model = Model::default();
    // Every command submitted: its line, its op, and its first answer, which its key keeps.
    let mut sent: Vec<(String, Op, Answer)> = Vec::new();
    let mut closed_before: BTreeSet<u8> = BTreeSet::new();
    for (step, op) in ops.iter().enumerate() {
        match op {
            Op::Restart => {
                drop(ledger);
                ledger = open(dir.path());
            }
            Op::Retry(i) if !sent.is_empty() => {
                let j = i % sent.len();
                let (line, _, first) = sent[j].clone();
                let result = ledger.submit_json(&line).await;
                // A key answers its first result again, accepted or rejected, and writes
                // nothing (CONTRACT: a repeated key with the same payload returns the first
                // result).
                match (first, result) {
                    (Ok(first), Ok(again)) => {
                        prop_assert_eq!(again, first, "step {}: retry of {}", step, line)
                    }
                    (Err(first), Err(SubmitError::Rejected(r))) => prop_assert_eq!(
                        (r.code.as_str().to_string(), r.message),
                        first,
                        "step {}: retry of {}",
                        step,
                        line
                    ),
                    (first, again) => {
                        return Err(TestCaseError::fail(format!(
                            "step {step}: retry of {line}: first {first:?}, again {again:?}"
                        )))
                    }
                }
            }
            Op::ReuseKey(i) => {
                // Every key answered is taken, whether its command was accepted or rejected.
                let accepted: Vec<&String> = sent.iter().map(|(l, _, _)| l).collect();
                if accepted.is_empty() {
                    continue;
                }
                let original: serde_json::Value =
                    serde_json::from_str(accepted[i % accepted.len()]).expect("json");
                let key = original["key"].as_str().expect("key").to_string();
                let other = format!(
                    r#"{{"type":"spend","member":"{}","date":"2024-09-11","amount":"0.01","purpose":"outpatient","key":"{key}"}}"#,
                    member(0)
                );
                let refused = compare(
                    step,
                    &other,
                    ledger.submit_json(&other).await,
                    Err("key_reused"),
                )?;
                prop_assert!(refused.is_err(), "step {}: a reused key is refused", step);
            }
            Op::Retry(_) => continue,
            command => {
                let line = line(command, &format!("s{step}"));
                let expected = model.submit(command);
                let accepted = compare(step, &line, ledger.submit_json(&line).await, expected)?;
                if !matches!(command, Op::Malformed(_)) {
                    sent.push((line, command.clone(), accepted));
                }
            }
        }
        check(&ledger, &model, step).await?;
        for (who, a) in &model.accounts {
            prop_assert!(
                !closed_before.contains(who) || a.closed,
                "a closed account stays closed"
            );
            if a.closed {
                closed_before.insert(*who);
            }
        }
    }
    check_as_of(&ledger, &model).await
}

/// The dates the final check judges every member on: the 1st and 16th of each month from
/// enrolment to after the last event of the timeline.
fn judged_dates() -> Vec<NaiveDate> {
    (0..22)
        .flat_map(|i| [first_day(i), first_day(i) + chrono::Days::new(15)])
        .collect()
}

/// R2 as of past dates, as now known: after the sequence, every member's status and
/// `benefits_from` on each judged date equal the model's walk on that date.
async fn check_as_of(ledger: &Ledger, model: &Model) -> Result<(), TestCaseError> {
    for (who, a) in model.accounts.iter().filter(|(_, a)| a.enrolled) {
        let id = member(*who).parse().expect("uuid");
        for on in judged_dates() {
            let view = ledger
                .account(id, ViewAt::AsOf(on))
                .await
                .map_err(|e| TestCaseError::fail(format!("member {who} on {on}: {e}")))?;
            let status = serde_json::to_value(view.status).expect("status");
            let want = a.coverage_on(on);
            prop_assert_eq!(
                (status.as_str(), view.benefits_from),
                (Some(want.0), want.1),
                "member {} as of {}",
                who,
                on
            );
        }
    }
    Ok(())
}

/// A command's first answer: its receipt, or its rejection's code and message.
type Answer = Result<member_ledger::Receipt, (String, String)>;

/// Compares the ledger's answer with the model's; returns the answer.
fn compare(
    step: usize,
    line: &str,
    got: Result<member_ledger::Receipt, SubmitError>,
    want: Outcome,
) -> Result<Answer, TestCaseError> {
    match (got, want) {
        (Ok(receipt), Ok(events)) => {
            prop_assert_eq!(
                receipt.events.len() as u64,
                events,
                "step {}: events of {}",
                step,
                line
            );
            Ok(Ok(receipt))
        }
        (Err(SubmitError::Rejected(r)), Err(code)) => {
            prop_assert_eq!(
                r.code.as_str(),
                code,
                "step {}: {} ({})",
                step,
                line,
                &r.message
            );
            Ok(Err((r.code.as_str().to_string(), r.message)))
        }
        (got, want) => Err(TestCaseError::fail(format!(
            "step {step}: {line}: ledger {got:?}, model {want:?}"
        ))),
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(CASES_DEFAULT),
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_ledger_agrees_with_a_reference_model(ops in ops()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(run(ops))?;
    }
}
