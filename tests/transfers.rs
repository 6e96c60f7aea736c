//! Transfers between two regions held in the same ledger: one append moves the balance whole and
//! the months as deemed months; a property test over random sequences of transfers,
//! contributions and spending.

use member_ledger::codec::decode;
use member_ledger::domain::Event;
use member_ledger::money::Money;
use member_ledger::projection::ViewAt;
use member_ledger::Ledger;
use proptest::prelude::*;

mod common;
use common::given;

const REGIONS: [&str; 3] = ["luzhou", "chongqing", "shenyang"];
/// Accounts 0..6: two in each region (account i is in `REGIONS[i / 2]`).
const ACCOUNTS: u8 = 6;

fn member(i: u8) -> String {
    format!("00000000-0000-4000-8000-0000000001{i:02x}")
}

fn region(i: u8) -> &'static str {
    REGIONS[usize::from(i / 2)]
}

fn enrolments() -> Vec<String> {
    (0..ACCOUNTS)
        .map(|i| {
            format!(
                r#"{{"type":"enroll","member":"{}","region":"{}","scheme":"employee","sex":"female","birth_date":"1985-01-01","date":"2022-01-01"}}"#,
                member(i),
                region(i)
            )
        })
        .collect()
}

#[derive(Debug, Clone)]
enum Op {
    Contribute { who: u8, month: u8, wage: u32 },
    Spend { who: u8, fen: u32, late: bool },
    TransferInFromOutside { who: u8, fen: u32, months: u8 },
    Suspend { who: u8 },
    Transfer { who: u8, to: u8, day: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..ACCOUNTS, 0u8..24, 1000u32..30000).prop_map(|(who, month, wage)| Op::Contribute { who, month, wage }),
        3 => (0..ACCOUNTS, 1u32..60000, any::<bool>()).prop_map(|(who, fen, late)| Op::Spend { who, fen, late }),
        1 => (0..ACCOUNTS, 0u32..500_000, 0u8..60).prop_map(|(who, fen, months)| Op::TransferInFromOutside { who, fen, months }),
        2 => (0..ACCOUNTS).prop_map(|who| Op::Suspend { who }),
        3 => (0..ACCOUNTS, 0..ACCOUNTS, 0u8..20).prop_map(|(who, to, day)| Op::Transfer { who, to, day }),
    ]
}

fn line(op: &Op) -> String {
    match op {
        Op::Contribute { who, month, wage } => {
            let (y, m) = (2023 + i32::from(*month / 12), u32::from(*month % 12) + 1);
            format!(
                r#"{{"type":"contribute","member":"{}","month":"{y}-{m:02}","wage":"{wage}.00","payer":"employer"}}"#,
                member(*who)
            )
        }
        Op::Spend { who, fen, late } => format!(
            r#"{{"type":"spend","member":"{}","date":"{}","amount":"{}","purpose":"pharmacy"}}"#,
            member(*who),
            if *late { "2025-03-01" } else { "2024-06-15" },
            Money::from_fen(i64::from(*fen))
        ),
        Op::TransferInFromOutside { who, fen, months } => format!(
            r#"{{"type":"transfer_in","member":"{}","date":"2024-02-01","from_region":"chengdu","balance":"{}","months":{months}}}"#,
            member(*who),
            Money::from_fen(i64::from(*fen))
        ),
        Op::Suspend { who } => format!(
            r#"{{"type":"suspend","member":"{}","date":"2024-07-01","reason":"transfer_out"}}"#,
            member(*who)
        ),
        Op::Transfer { who, to, day } => format!(
            r#"{{"type":"transfer_out","member":"{}","date":"2025-01-{:02}","to_region":"{}","to_member":"{}"}}"#,
            member(*who),
            day + 1,
            region(*to),
            member(*to)
        ),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    // Whatever transfers, contributions and spending arrive, in whatever order, money is
    // conserved: what entered the ledger's accounts from outside (contribution credits and
    // balances transferred in from regions outside the ledger) equals what the accounts hold
    // plus what left them (spending). A transfer between two accounts of the ledger creates and
    // loses no fen: every transferred_out that names a receiving account is followed, at the
    // next log position (the same append), by that account's transferred_in of the same balance,
    // with the sender's actual + deemed months arriving as deemed months; the sender's account
    // is closed with a zero balance. No balance is ever negative, and replay equals checkpoints.
    #[test]
    fn money_is_conserved_over_transfers_contributions_and_spending(ops in prop::collection::vec(op(), 1..48)) {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            let dir = tempfile::tempdir().expect("tempdir");
            let ledger = Ledger::open(dir.path()).await.expect("open");
            let mut lines = enrolments();
            lines.extend(ops.iter().map(line));
            ledger.submit_json_batch(&lines).await;
            let states = ledger.replay_all().await.expect("replay");
            prop_assert_eq!(&states, &ledger.checkpoints().await.expect("checkpoints"));
            let head = ledger.head().expect("head").position;
            let events = ledger.log().read_from(1, usize::try_from(head).expect("usize")).expect("read");
            let decoded: Vec<_> = events.iter().map(|e| (e, decode(e).expect("decode"))).collect();
            let (mut inflow, mut outflow) = (Money::ZERO, Money::ZERO);
            for (i, (stored, event)) in decoded.iter().enumerate() {
                match event {
                    Event::ContributionPosted(c) => inflow += c.account_credit,
                    Event::TransferredIn { balance, from_member: None, .. } => inflow += *balance,
                    Event::Spent { amount, .. } => outflow += *amount,
                    Event::TransferredOut { balance, months_actual, months_deemed, to_member: Some(to), .. } => {
                        let (next_stored, next) = decoded.get(i + 1).expect("the receiving side follows");
                        prop_assert_eq!(next_stored.position, stored.position + 1);
                        prop_assert_eq!(next_stored.member, *to);
                        match next {
                            Event::TransferredIn { balance: arrived, months, from_member, .. } => {
                                prop_assert_eq!(arrived, balance);
                                prop_assert_eq!(*months, months_actual + months_deemed);
                                prop_assert_eq!(*from_member, Some(stored.member));
                            }
                            other => prop_assert!(false, "expected transferred_in, got {}", other.type_name()),
                        }
                        let sender = &states[&stored.member];
                        prop_assert!(sender.closed_on.is_some() && sender.balance.is_zero());
                    }
                    Event::TransferredOut { to_member: None, .. } => prop_assert!(false, "no external transfer out was sent"),
                    _ => {}
                }
            }
            let mut balances = Money::ZERO;
            for s in states.values() {
                prop_assert!(!s.balance.is_negative());
                prop_assert_eq!(s.credited - s.debited, s.balance);
                balances += s.balance;
            }
            prop_assert_eq!(inflow, balances + outflow);
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn s6_a_transfer_inside_the_ledger_moves_balance_and_months_in_one_append_000_q28_q35() {
    let mut lines = enrolments();
    for m in ["2024-01", "2024-02", "2024-03"] {
        lines.push(
            line(&Op::Contribute {
                who: 0,
                month: 0,
                wage: 0,
            })
            .replace("2023-01", m)
            .replace("\"0.00\"", "\"6100.01\""),
        );
    }
    lines.push(format!(
        r#"{{"type":"recognize_deemed","member":"{}","date":"2024-03-31","months":24,"basis":"military"}}"#,
        member(0)
    ));
    lines.push(line(&Op::Suspend { who: 0 }));
    let (_d, l) = given(&lines).await;
    let out = line(&Op::Transfer {
        who: 0,
        to: 2,
        day: 14,
    });
    let receipt = l.submit_json(&out).await.expect("transfer");
    assert_eq!(receipt.events.len(), 2, "both sides in one append");
    let from = l
        .account(member(0).parse().expect("uuid"), ViewAt::Head)
        .await
        .expect("view");
    let to = l
        .account(member(2).parse().expect("uuid"), ViewAt::Head)
        .await
        .expect("view");
    assert_eq!(from.balance.to_string(), "0.00");
    assert_eq!(format!("{:?}", from.status), "Closed");
    assert_eq!(
        to.balance.to_string(),
        "366.00",
        "3 × 2 % of 6,100.01, to the fen"
    );
    assert_eq!(
        (to.months.actual, to.months.deemed),
        (0, 27),
        "3 actual + 24 deemed arrive as deemed"
    );
    let reversal = format!(
        r#"{{"type":"reverse","event":"{}","reason":"test"}}"#,
        receipt.events[1].event_id
    );
    assert_eq!(
        l.submit_json(&reversal)
            .await
            .expect_err("not reversible")
            .code(),
        "not_reversible"
    );
}

#[tokio::test]
async fn s6_an_in_ledger_transfer_is_refused_whole_when_the_receiving_account_cannot_take_it() {
    let mut lines = enrolments();
    lines.push(line(&Op::Contribute {
        who: 0,
        month: 13,
        wage: 5000,
    }));
    lines.push(line(&Op::Suspend { who: 0 }));
    let (_d, l) = given(&lines).await;
    let same_region = line(&Op::Transfer {
        who: 0,
        to: 1,
        day: 0,
    });
    assert_eq!(
        l.submit_json(&same_region)
            .await
            .expect_err("same region")
            .code(),
        "invalid_input"
    );
    let wrong_region = line(&Op::Transfer {
        who: 0,
        to: 2,
        day: 0,
    })
    .replace("\"to_region\":\"chongqing\"", "\"to_region\":\"shenyang\"");
    assert_eq!(
        l.submit_json(&wrong_region)
            .await
            .expect_err("wrong region")
            .code(),
        "invalid_input"
    );
    let unknown = line(&Op::Transfer {
        who: 0,
        to: 2,
        day: 0,
    })
    .replace(&member(2), "00000000-0000-4000-8000-0000000009ff");
    assert_eq!(
        l.submit_json(&unknown).await.expect_err("unknown").code(),
        "unknown_member"
    );
    let head = l.head().expect("head").position;
    assert_eq!(head, 8, "a refused transfer writes neither side");
}
