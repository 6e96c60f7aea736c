//! The vocabulary both the rules (`domain`) and the policy data (`policy`) speak: the scheme, sex,
//! payer, employer class and tier a member or a payment has.
//!
//! It sits below both: it depends only on std and serde, so `policy` can name a scheme or a tier
//! without importing the rules, and `domain` re-exports these types for its users. The wire
//! names (`snake_case`) are part of the contract: events, commands and policy files spell them.

use serde::{Deserialize, Serialize};

/// The insurance scheme a member is enrolled in. docs/RULES.md §1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    /// 职工医保: contributions and a personal account.
    Employee,
    /// 城乡居民医保: yearly premiums, no personal account.
    Resident,
}

impl Scheme {
    /// The scheme's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Employee => "employee",
            Scheme::Resident => "resident",
        }
    }
}

/// Sex, which sets the retirement threshold. docs/RULES.md §5.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// Male.
    Male,
    /// Female.
    Female,
}

/// Who paid a contribution. docs/RULES.md §2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Payer {
    /// Declared and paid by an employer (employee share withheld).
    Employer,
    /// Paid by the member as a flexible worker (both shares).
    Individual,
}

/// The employer's class, which sets its rate. docs/RULES.md §2.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmployerClass {
    /// An enterprise (the default).
    #[default]
    Enterprise,
    /// State organs, social organisations, fiscally funded institutions.
    Public,
}

/// A member's tier in a region that offers more than one. docs/RULES.md §12 R3.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Contributions credit the personal account (the default).
    #[default]
    WithAccount,
    /// Contributions go wholly to the pooled fund: no personal account.
    PoolOnly,
}

impl Tier {
    /// Whether this is the default tier (left out of events).
    pub fn is_default(&self) -> bool {
        *self == Tier::WithAccount
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire<T: Serialize>(value: T) -> String {
        serde_json::to_string(&value).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The names events, commands and policy files carry: a change here breaks stored logs.
    #[test]
    fn wire_names_are_the_contracts() {
        assert_eq!(wire(Scheme::Employee), "\"employee\"");
        assert_eq!(wire(Scheme::Resident), "\"resident\"");
        assert_eq!(wire(Sex::Male), "\"male\"");
        assert_eq!(wire(Sex::Female), "\"female\"");
        assert_eq!(wire(Payer::Employer), "\"employer\"");
        assert_eq!(wire(Payer::Individual), "\"individual\"");
        assert_eq!(wire(EmployerClass::Enterprise), "\"enterprise\"");
        assert_eq!(wire(EmployerClass::Public), "\"public\"");
        assert_eq!(wire(Tier::WithAccount), "\"with_account\"");
        assert_eq!(wire(Tier::PoolOnly), "\"pool_only\"");
    }

    #[test]
    fn scheme_as_str_is_its_wire_name() {
        for scheme in [Scheme::Employee, Scheme::Resident] {
            assert_eq!(format!("\"{}\"", scheme.as_str()), wire(scheme));
        }
    }

    #[test]
    fn defaults_are_enterprise_and_with_account() {
        assert_eq!(EmployerClass::default(), EmployerClass::Enterprise);
        assert!(Tier::default().is_default());
        assert!(!Tier::PoolOnly.is_default());
    }
}
