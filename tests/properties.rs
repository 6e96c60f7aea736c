//! Property tests over random command sequences.

use std::collections::BTreeSet;

use member_ledger::money::Money;
use member_ledger::Ledger;
use proptest::prelude::*;

fn member(i: u8) -> String {
    format!("00000000-0000-4000-8000-0000000000{i:02x}")
}

#[derive(Debug, Clone)]
enum Op {
    Contribute {
        who: u8,
        month: u8,
        wage: u32,
        individual: bool,
    },
    Spend {
        who: u8,
        fen: u32,
        day: u8,
    },
    Suspend {
        who: u8,
    },
    Death {
        who: u8,
    },
    Settle {
        who: u8,
        heir: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..3, 0u8..24, 1000u32..30000, any::<bool>()).prop_map(|(who, month, wage, individual)| Op::Contribute { who, month, wage, individual }),
        3 => (0u8..3, 1u32..40000, 0u8..28).prop_map(|(who, fen, day)| Op::Spend { who, fen, day }),
        1 => (0u8..3).prop_map(|who| Op::Suspend { who }),
        1 => (0u8..3).prop_map(|who| Op::Death { who }),
        1 => (0u8..3, 0u8..3).prop_map(|(who, heir)| Op::Settle { who, heir }),
    ]
}

fn line(op: &Op) -> String {
    match op {
        Op::Contribute {
            who,
            month,
            wage,
            individual,
        } => {
            let (y, m) = (2023 + i32::from(*month / 12), u32::from(*month % 12) + 1);
            let payer = if *individual {
                "individual"
            } else {
                "employer"
            };
            format!(
                r#"{{"type":"contribute","member":"{}","month":"{y}-{m:02}","wage":"{wage}.00","payer":"{payer}"}}"#,
                member(*who)
            )
        }
        Op::Spend { who, fen, day } => {
            let amount = Money::from_fen(i64::from(*fen));
            format!(
                r#"{{"type":"spend","member":"{}","date":"2024-06-{:02}","amount":"{amount}","purpose":"pharmacy"}}"#,
                member(*who),
                day + 1
            )
        }
        Op::Suspend { who } => format!(
            r#"{{"type":"suspend","member":"{}","date":"2024-07-01","reason":"other"}}"#,
            member(*who)
        ),
        Op::Death { who } => format!(
            r#"{{"type":"record_death","member":"{}","date":"2025-12-31"}}"#,
            member(*who)
        ),
        Op::Settle { who, heir } => format!(
            r#"{{"type":"settle_inheritance","member":"{}","date":"2026-01-05","heirs":[{{"heir":"{}","name":"heir","share":"1"}}]}}"#,
            member(*who),
            member(*heir)
        ),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    // Whatever commands arrive, in whatever order:
    // - money is conserved: what was credited from outside (contributions, allocations) equals the
    //   sum of balances plus what left the ledger (spending, payouts); inheritance moves between
    //   accounts create and lose nothing;
    // - no balance is ever below zero, and credited − debited = balance for every member;
    // - a month counts once: actual months equal the distinct counted months;
    // - replaying the log from scratch gives exactly the checkpointed states.
    #[test]
    fn money_is_conserved_balances_stay_non_negative_and_replay_equals_checkpoints(ops in prop::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            let dir = tempfile::tempdir().expect("tempdir");
            let ledger = Ledger::open(dir.path()).await.expect("open");
            let mut lines: Vec<String> = (0..3u8)
                .map(|i| format!(r#"{{"type":"enroll","member":"{}","region":"luzhou","scheme":"employee","sex":"male","birth_date":"1980-01-01","date":"2022-01-01"}}"#, member(i)))
                .collect();
            lines.extend(ops.iter().map(line));
            ledger.submit_json_batch(&lines).await;
            let states = ledger.replay_all().await.expect("replay");
            prop_assert_eq!(&states, &ledger.checkpoints().await.expect("checkpoints"));
            let mut inflow = Money::ZERO;
            let mut outflow = Money::ZERO;
            let mut balances = Money::ZERO;
            for s in states.values() {
                prop_assert!(!s.balance.is_negative());
                prop_assert_eq!(s.credited - s.debited, s.balance);
                balances += s.balance;
                let counted: BTreeSet<_> = s.months.iter().filter(|(_, c)| c.counts()).map(|(m, _)| *m).collect();
                prop_assert_eq!(s.months_actual() as usize, counted.len());
                let events = ledger.log().read_member(s.member, None).expect("events");
                for e in events {
                    let event = member_ledger::codec::decode(&e).expect("decode");
                    match event {
                        member_ledger::domain::Event::ContributionPosted(c) => inflow += c.account_credit,
                        member_ledger::domain::Event::Spent { amount, .. } => outflow += amount,
                        member_ledger::domain::Event::InheritanceSettled { shares, .. } => {
                            outflow += shares.iter().filter(|x| x.destination != member_ledger::domain::HeirDestination::Account).map(|x| x.amount).sum::<Money>();
                        }
                        _ => {}
                    }
                }
            }
            prop_assert_eq!(inflow, balances + outflow);
            Ok(())
        })?;
    }
}
