//! Roles: what a user or an API token may do.
//!
//! Three fixed roles, ordered by power: `viewer` < `operator` < `admin`. Which role each route
//! needs is decided in one place, the API's access table; this module only names the roles.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A role, ordered so that `a >= b` means "a may do everything b may".
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read-only: lists and reads keys, platforms, tasks and the audit log; never a secret.
    Viewer,
    /// Day-to-day work: keys, platforms, deploy, revoke, run commands, tasks.
    Operator,
    /// Everything, including users and host-key re-trust.
    Admin,
}

impl Role {
    /// Every role, weakest first.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    /// The lowercase name used in the API, the database and tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a role name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be one of viewer, operator, admin")]
pub struct UnknownRole;

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Role, UnknownRole> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or(UnknownRole)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_order_by_power() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!(Role::Admin > Role::Operator && Role::Operator > Role::Viewer);
        assert_eq!("root".parse::<Role>(), Err(UnknownRole));
        assert_eq!(
            serde_json::to_string(&Role::Operator).unwrap(),
            "\"operator\""
        );
    }
}
