//! One finding of verify: a violation with its tenant.

use crate::report::Violation;

/// A violation and the tenant whose row breaks it (the tenant of the row's
/// `tenant_id`), so that a batch's findings can be told apart by tenant.
pub(super) struct Finding {
    pub(super) tenant: String,
    pub(super) violation: Violation,
}

impl Finding {
    pub(super) fn new(tenant: impl Into<String>, violation: Violation) -> Self {
        Finding {
            tenant: tenant.into(),
            violation,
        }
    }
}
