//! A seeded synthetic population: realistic careers as contract commands, for `load`, the
//! benches and scale runs. The same seed gives the same commands, byte for byte.
//!
//! A career: enrolment (with deemed pre-1997 service for some), monthly employer contributions
//! on a growing wage, gaps (left an employer, rejoined as an individual within or after 90
//! days), spending a few times a year within what the account has received, and at the end
//! for some: a lump-sum makeup and retirement with allocations, death and inheritance, or a
//! transfer out. Every command carries an idempotency key, so a rerun appends nothing.

use serde_json::json;

/// A small deterministic generator (SplitMix64): no dependency, same numbers everywhere.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from a seed.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// A number in `0..n` (n > 0), as a `u32`.
    pub fn below_u32(&mut self, n: u32) -> u32 {
        u32::try_from(self.below(u64::from(n))).unwrap_or(0)
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The shape of a synthetic population.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Population {
    /// Seed of every random choice.
    pub seed: u64,
    /// Number of members.
    pub members: u32,
    /// Years of contributions per member.
    pub years: u32,
    /// First contribution year (enrolment on its 1 January).
    pub start_year: i32,
}

impl Population {
    /// The id of member `i` (stable across runs).
    pub fn member_id(&self, i: u32) -> String {
        format!(
            "00000000-0000-4000-9000-{:04x}{:08x}",
            self.seed & 0xffff,
            i
        )
    }

    /// Member `i`'s career as JSON command lines, in order.
    pub fn career(&self, i: u32) -> Vec<String> {
        let mut rng = SplitMix64::new(self.seed ^ (u64::from(i) << 20) ^ 0x5eed);
        let member = self.member_id(i);
        let mut lines = Vec::new();
        let mut n = 0u32;
        let mut push = |mut command: serde_json::Value| {
            n += 1;
            command["key"] = json!(format!("syn-{}-{i}-{n}", self.seed));
            lines.push(command.to_string());
        };
        let female = rng.chance(50);
        let age_at_start = 22 + i32::try_from(rng.below_u32(28)).unwrap_or(0);
        let birth = format!(
            "{}-{:02}-{:02}",
            self.start_year - age_at_start,
            1 + rng.below(12),
            1 + rng.below(28)
        );
        let start = format!("{}-01-01", self.start_year);
        push(
            json!({"type":"enroll","member":member,"region":"luzhou","scheme":"employee",
            "sex": if female {"female"} else {"male"},"birth_date":birth,"date":start}),
        );
        let mut deemed = 0u32;
        if self.start_year <= 1998 && rng.chance(30) {
            deemed = 12 + rng.below_u32(180);
            push(json!({"type":"recognize_deemed","member":member,
                "date":format!("{}-01-02", self.start_year),"months":deemed,"basis":"pre_1997_service"}));
        }
        let mut wage_fen: u64 = 200_000 + rng.below(800_000);
        let mut paid_months = 0u32;
        let mut received_fen: u64 = 0; // a floor on what the account received: 2 % of wages
        let mut spent_fen: u64 = 0;
        let mut payer = "employer";
        let mut gap_left = 0u32;
        let mut last_day = String::new();
        let end_year = self.start_year + i32::try_from(self.years).unwrap_or(0);
        for year in self.start_year..end_year {
            for month in 1..=12u32 {
                let days = days_in(year, month);
                last_day = format!("{year}-{month:02}-{days:02}");
                if gap_left > 0 {
                    gap_left -= 1;
                    continue;
                }
                push(json!({"type":"contribute","member":member,
                    "month":format!("{year}-{month:02}"),
                    "wage":money(wage_fen),"payer":payer}));
                paid_months += 1;
                received_fen += wage_fen / 50;
                if month % 4 == 0 {
                    let room = received_fen.saturating_sub(spent_fen) / 4;
                    if room > 1_000 {
                        let amount = 500 + rng.below(room - 500);
                        spent_fen += amount;
                        let purpose =
                            ["pharmacy", "outpatient", "inpatient"][rng.below_u32(3) as usize];
                        push(json!({"type":"spend","member":member,
                            "date":format!("{year}-{month:02}-{:02}", 1 + rng.below(u64::from(days))),
                            "amount":money(amount),"purpose":purpose}));
                    }
                }
                if month == 12 && year + 1 < end_year && rng.chance(8) {
                    // Leaves the employer at the year's end; back as an individual after a gap.
                    push(
                        json!({"type":"suspend","member":member,"date":last_day,"reason":"left_employer"}),
                    );
                    gap_left = 1 + rng.below_u32(5);
                    payer = "individual";
                }
            }
            wage_fen += wage_fen / 20;
        }
        let fate = rng.below(100);
        let retire_on = format!("{end_year}-01-10");
        if fate < 25 && reached_statutory_age(&birth, &retire_on, female) {
            // The thresholds are the shipped Luzhou policy's, asked for the retirement date.
            let (total, actual) = retirement_thresholds(end_year, female);
            let short = total.saturating_sub(paid_months + deemed);
            let short = short.max(actual.saturating_sub(paid_months));
            if short > 0 {
                push(json!({"type":"lump_sum_makeup","member":member,
                    "date":format!("{end_year}-01-05"),"months":short}));
            }
            push(json!({"type":"retire","member":member,"date":retire_on}));
            for month in 1..=12 {
                push(json!({"type":"credit_retiree_allocation","member":member,
                    "month":format!("{end_year}-{month:02}")}));
            }
        } else if fate < 28 {
            push(json!({"type":"record_death","member":member,"date":format!("{end_year}-01-15")}));
            let heirs = if rng.chance(50) {
                json!([])
            } else {
                json!([{"heir":null,"name":"spouse","share":"0.5"},{"heir":null,"name":"child","share":"0.5"}])
            };
            push(json!({"type":"settle_inheritance","member":member,
                "date":format!("{end_year}-03-01"),"heirs":heirs}));
        } else if fate < 33 {
            push(json!({"type":"suspend","member":member,"date":last_day,"reason":"transfer_out"}));
            push(json!({"type":"transfer_out","member":member,
                "date":format!("{end_year}-01-20"),"to_region":"chengdu"}));
        }
        lines
    }
}

/// Months required to retire in the shipped Luzhou policy on 10 January of `year`: (total,
/// actual local). The policy is parsed once per process.
fn retirement_thresholds(year: i32, female: bool) -> (u32, u32) {
    static SHIPPED: std::sync::OnceLock<crate::policy::PolicySet> = std::sync::OnceLock::new();
    let policies = SHIPPED.get_or_init(crate::policy::PolicySet::shipped);
    let rules = chrono::NaiveDate::from_ymd_opt(year, 1, 10)
        .and_then(|date| policies.region("luzhou")?.retirement(date).ok());
    match rules {
        Some(r) if female => (r.value.months_total_female, r.value.months_actual_min),
        Some(r) => (r.value.months_total_male, r.value.months_actual_min),
        None => (0, 0),
    }
}

/// Whether someone born on `birth` has reached the statutory retirement age (a woman worker's,
/// the default category) on `date` in the shipped Luzhou policy (docs/RULES.md §12 R12).
fn reached_statutory_age(birth: &str, date: &str, female: bool) -> bool {
    static SHIPPED: std::sync::OnceLock<crate::policy::PolicySet> = std::sync::OnceLock::new();
    let policies = SHIPPED.get_or_init(crate::policy::PolicySet::shipped);
    let (Ok(birth), Ok(date)) = (
        birth.parse::<chrono::NaiveDate>(),
        date.parse::<chrono::NaiveDate>(),
    ) else {
        return false;
    };
    let Some(ages) = policies
        .region("luzhou")
        .and_then(|p| p.retirement_ages(date).ok())
    else {
        return false;
    };
    let schedule = if female {
        ages.value.female_worker
    } else {
        ages.value.male
    };
    let months = schedule.age_months(crate::month::Month::of(birth));
    birth
        .checked_add_months(chrono::Months::new(months))
        .is_some_and(|reached| reached <= date)
}

fn money(fen: u64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

fn days_in(year: i32, month: u32) -> u32 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_careers_and_every_line_is_a_command() {
        let p = Population {
            seed: 7,
            members: 3,
            years: 30,
            start_year: 1996,
        };
        for i in 0..p.members {
            let career = p.career(i);
            assert_eq!(career, p.career(i));
            assert!(career.len() > 30 * 12 / 2, "mostly monthly contributions");
            for line in &career {
                crate::domain::parse_command(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            }
        }
        assert_ne!(p.career(0), p.career(1));
    }
}
