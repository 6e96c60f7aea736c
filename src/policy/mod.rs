//! Regional, dated policy parameters as data: one question per function.
//!
//! A [`PolicySet`] holds one [`RegionPolicy`] per pooling region, loaded from JSON files (the
//! shipped ones are embedded in the binary from `policy/`). Every parameter is a [`Series`] of
//! values, each with the date it takes effect and its source tag (docs/RULES.md). Code asks a
//! question ("what is the employer rate for 2005-03?") and gets back the value *and* the entry it
//! came from ([`Dated`]), so an event can record which rule decided it. Replaying 2005 uses 2005's
//! rules because the question is always asked with the event's own date, never today's.
//!
//! By job: this file loads and versions the files; `schema` is a file's shape and `model` the
//! §12 concepts in it; `series` the dated values; `bounds` the limit on every value, which
//! `validate` (one file per section) applies at open; `questions` and `contribution` answer the
//! rules; `explain` prints the figures in force on a date.

mod bounds;
mod contribution;
mod explain;
mod model;
mod questions;
mod schema;
mod series;
mod validate;

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

pub use bounds::{
    MONTHS_PARAMETER_MAX, POLICY_AGE_MAX, POLICY_AMOUNT_YUAN_MAX, POLICY_DAYS_MAX,
    POLICY_MONTHS_MAX, POLICY_RATE_DECIMALS_MAX, WINDOW_DAYS_MAX,
};
pub use contribution::{credit_of, ContributionTerms};
pub use explain::{explain_region, Figure};
pub use model::{
    AllocationStart, CreditRounding, InterestRates, MonthDay, PoolOnlyTier, PremiumCategory,
    ResidentWait, Surcharge, SurchargeGroup, SurchargePayer, SurchargePer, TierRules,
};
pub use questions::NotInForce;
pub use schema::{
    AccountCredit, AgeAmount, AgeRate, AgeSchedule, BaseBounds, CoverageRules, EmployerRates,
    PremiumSchedule, RegionPolicy, Rejoin, ResidentRules, RetirementAges, RetirementRules,
};
use series::{entry_fault, fault, Fault};
pub use series::{Dated, Fixed, Series};

/// The policy files shipped with the ledger, embedded at build time: `(file name, JSON)`.
pub const SHIPPED_POLICIES: &[(&str, &str)] = &[
    (
        "chongqing.json",
        include_str!("../../policy/chongqing.json"),
    ),
    ("fuzhou.json", include_str!("../../policy/fuzhou.json")),
    ("luzhou.json", include_str!("../../policy/luzhou.json")),
    ("shanghai.json", include_str!("../../policy/shanghai.json")),
    ("shenyang.json", include_str!("../../policy/shenyang.json")),
];

/// Largest policy file read from a directory, in bytes.
pub const POLICY_FILE_BYTES_MAX: u64 = 4 * 1024 * 1024;
/// Most policy files one directory may hold.
pub const POLICY_FILES_MAX: usize = 256;

/// Why a policy file (or directory) could not be loaded. Every variant names the file; a
/// deployment fixes the file and opens the ledger again.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The file or directory cannot be read.
    #[error("policy file {file}: {reason}")]
    Unreadable {
        /// The file's (or directory's) path.
        file: String,
        /// The operating system's reason.
        reason: String,
    },
    /// The file is not policy JSON: bad syntax, an unknown key, a missing field, a wrong type.
    #[error("policy file {file}: at {place}: {reason}")]
    Malformed {
        /// The file's name.
        file: String,
        /// The place: a key path such as `employer_rate[0].value.enterprise` (`.` for the top).
        place: String,
        /// What is wrong (with line and column from the JSON parser).
        reason: String,
    },
    /// The file parses but its values are inconsistent.
    #[error("policy file {file}: {place}: {reason}")]
    Invalid {
        /// The file's name.
        file: String,
        /// The parameter or entry at fault, e.g. `employee_rate[1] (from 2005-01-01)`.
        place: String,
        /// Why it is refused.
        reason: String,
    },
}

/// All regions a ledger knows, each with its version (a digest of its file).
#[derive(Clone, Debug)]
pub struct PolicySet {
    regions: BTreeMap<String, LoadedPolicy>,
}

#[derive(Clone, Debug)]
struct LoadedPolicy {
    policy: RegionPolicy,
    version: String,
}

impl PolicySet {
    /// The policies shipped in the binary.
    ///
    /// # Panics
    /// When a shipped file is invalid: the build's own data is wrong, which tests catch.
    pub fn shipped() -> PolicySet {
        PolicySet::from_files(
            SHIPPED_POLICIES
                .iter()
                .map(|(n, t)| (n.to_string(), t.to_string())),
        )
        .unwrap_or_else(|e| panic!("shipped policy data is invalid: {e}"))
    }

    /// Loads policies from `(file name, JSON text)` pairs, validating each: a file is refused
    /// with its name, the place (parameter or entry) and the reason. The file is named after
    /// its region (`chongqing.json` holds `"region": "chongqing"`), and a region appears once.
    pub fn from_files(
        files: impl IntoIterator<Item = (String, String)>,
    ) -> Result<PolicySet, PolicyError> {
        let mut regions = BTreeMap::new();
        for (file, text) in files {
            let policy = parse(&file, &text)?;
            let invalid = |(place, reason): (String, String)| PolicyError::Invalid {
                file: file.clone(),
                place,
                reason,
            };
            policy.validate().map_err(invalid)?;
            let stem = file.rsplit('/').next().unwrap_or(&file);
            if stem.strip_suffix(".json") != Some(policy.region.as_str()) {
                let reason = format!(
                    "a file holding region '{0}' is named {0}.json",
                    policy.region
                );
                return Err(invalid(("region".into(), reason)));
            }
            if regions.contains_key(&policy.region) {
                let reason = format!("region '{}' is given by another file too", policy.region);
                return Err(invalid(("region".into(), reason)));
            }
            let digest = Sha256::digest(text.as_bytes());
            let version = format!("{}@{}", policy.region, &hex::encode(digest)[..12]);
            regions.insert(policy.region.clone(), LoadedPolicy { policy, version });
        }
        if regions.is_empty() {
            return Err(PolicyError::Unreadable {
                file: "(none)".into(),
                reason: "no policy file was given".into(),
            });
        }
        Ok(PolicySet { regions })
    }

    /// Loads every `*.json` file of a directory (what a deployment writes, one file per region),
    /// validating each as [`PolicySet::from_files`] does. The directory replaces the shipped
    /// policies: a region it does not hold is unknown to the ledger.
    pub fn from_dir(dir: impl AsRef<std::path::Path>) -> Result<PolicySet, PolicyError> {
        let dir = dir.as_ref();
        let unreadable = |path: &std::path::Path, e: std::io::Error| PolicyError::Unreadable {
            file: path.display().to_string(),
            reason: e.to_string(),
        };
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| unreadable(dir, e))? {
            let path = entry.map_err(|e| unreadable(dir, e))?.path();
            if path.extension().and_then(|e| e.to_str()) == Some("json") {
                paths.push(path);
            }
        }
        if paths.len() > POLICY_FILES_MAX {
            return Err(PolicyError::Unreadable {
                file: dir.display().to_string(),
                reason: format!("holds more than {POLICY_FILES_MAX} policy files"),
            });
        }
        paths.sort();
        let mut files = Vec::with_capacity(paths.len());
        for path in paths {
            // Bounded however the file reports its size: a symlink to a device or a FIFO is
            // refused rather than read without end.
            let bound = usize::try_from(POLICY_FILE_BYTES_MAX).unwrap_or(usize::MAX);
            let text =
                crate::files::read_bounded(&path, bound).map_err(|e| unreadable(&path, e))?;
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            files.push((name.unwrap_or_default(), text));
        }
        if files.is_empty() {
            return Err(PolicyError::Unreadable {
                file: dir.display().to_string(),
                reason: "holds no *.json policy file".into(),
            });
        }
        PolicySet::from_files(files)
    }

    /// The region's policy, if the ledger knows the region.
    pub fn region(&self, region: &str) -> Option<&RegionPolicy> {
        self.regions.get(region).map(|l| &l.policy)
    }

    /// The version tag of a region's policy data, recorded in every event decided under it.
    pub fn version(&self, region: &str) -> Option<&str> {
        self.regions.get(region).map(|l| l.version.as_str())
    }

    /// The regions known, sorted.
    pub fn region_names(&self) -> impl Iterator<Item = &str> {
        self.regions.keys().map(String::as_str)
    }
}

/// Parses one policy file, naming the key path of a fault (`employer_rate[0].value.x`).
fn parse(file: &str, text: &str) -> Result<RegionPolicy, PolicyError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let policy: RegionPolicy =
        serde_path_to_error::deserialize(&mut de).map_err(|e| PolicyError::Malformed {
            file: file.to_string(),
            place: e.path().to_string(),
            reason: e.inner().to_string(),
        })?;
    de.end().map_err(|e| PolicyError::Malformed {
        file: file.to_string(),
        place: ".".into(),
        reason: e.to_string(),
    })?;
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::month::Month;

    fn luzhou() -> RegionPolicy {
        PolicySet::shipped()
            .region("luzhou")
            .cloned()
            .unwrap_or_else(|| panic!("luzhou shipped"))
    }

    #[test]
    fn shipped_policies_load_and_validate() {
        let set = PolicySet::shipped();
        assert!(set.region("luzhou").is_some());
        assert!(set
            .version("luzhou")
            .is_some_and(|v| v.starts_with("luzhou@")));
    }

    #[test]
    fn account_credit_changes_at_the_reform_date() {
        let p = luzhou();
        let dec = |m: &str| m.parse::<Month>().unwrap_or_else(|e| panic!("{e}"));
        let before = p
            .account_credit_rate(dec("2022-12"), 40)
            .map(|(o, e, _)| (o, e));
        let after = p
            .account_credit_rate(dec("2023-01"), 40)
            .map(|(o, e, _)| (o, e));
        assert_eq!(
            before.map(|(o, e)| o.plus(e).to_string()),
            Ok("0.03".to_string())
        );
        assert_eq!(
            after.map(|(o, e)| o.plus(e).to_string()),
            Ok("0.02".to_string())
        );
    }

    #[test]
    fn a_question_before_any_entry_is_not_in_force() {
        let p = luzhou();
        let d = NaiveDate::from_ymd_opt(1990, 1, 1).unwrap_or_default();
        assert!(p.retirement(d).is_err());
    }
}
