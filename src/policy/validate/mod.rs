//! Validation at open: [`RegionPolicy::validate`] checks the file's top keys, then each section
//! (`employee`, `resident`, `model` for docs/RULES.md §12), and names the first fault by place and
//! reason (`employer_rate[1] (from 2005-01-01)`).

mod employee;
mod model;
mod resident;

use super::{fault, Fault, RegionPolicy};
use crate::terms::Scheme;

impl RegionPolicy {
    /// Checks presence, order, signs and ranges; returns `(place, reason)` for the first fault,
    /// the place a parameter or one of its entries (`employer_rate[1] (from 2005-01-01)`).
    pub(crate) fn validate(&self) -> Result<(), Fault> {
        if self.region.is_empty()
            || !self
                .region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_')
        {
            return Err(fault("region", "must be a lower-case key such as 'luzhou'"));
        }
        if self.rounding.value != "half_up" {
            return Err(fault(
                "rounding",
                format!("'{}' is not supported; use half_up", self.rounding.value),
            ));
        }
        if self.schemes.is_empty() {
            return Err(fault(
                "schemes",
                "names no scheme; use employee, resident or both",
            ));
        }
        if self.schemes.contains(&Scheme::Employee) {
            self.validate_employee()?;
        }
        if self.schemes.contains(&Scheme::Resident) {
            self.validate_resident()?;
        }
        self.validate_model()
    }
}
