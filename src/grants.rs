//! Roles per platform: a user's fleet-wide role and scoped grants, and the role they give on
//! each platform. Pure: no I/O; the store reads the grants ([`crate::store::Store::grants_of`]),
//! the API asks this module.
//!
//! A **grant** is `(subject, role, scope)`: the subject is a user or a group, the scope `all` or
//! a [`Selector`]. A user's **fleet-wide role** is the highest of the role on their account (none
//! is allowed) and the `all` grants given to them or to one of their groups. Their **role on a
//! platform** P is the highest of the fleet-wide role and the roles of the scoped grants whose
//! selector matches P (evaluated on P's facts, like every selector). A request signed in with an
//! API token is further capped at the token's role ([`Grants::capped`]); the scope stays the
//! user's.

use std::fmt;

use crate::role::Role;
use crate::selector::{PlatformFacts, Selector};

/// A role limited to the platforms a selector matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopedGrant {
    pub role: Role,
    pub selector: Selector,
}

/// Everything a signed-in user (or API token) may do, by platform.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    fleet: Option<Role>,
    scoped: Vec<ScopedGrant>,
    cap: Option<Role>,
}

impl Grants {
    /// The grants of a user whose account has `own` as fleet-wide role (`None`: no role of its
    /// own) and who holds `grants` (own and through groups): a grant scoped `all` counts as
    /// fleet-wide, the others stay scoped.
    pub fn new(own: Option<Role>, grants: impl IntoIterator<Item = ScopedGrant>) -> Grants {
        let mut out = Grants {
            fleet: own,
            ..Grants::default()
        };
        for grant in grants {
            if grant.selector.is_all() {
                out.fleet = out.fleet.max(Some(grant.role));
            } else {
                out.scoped.push(grant);
            }
        }
        // A scoped grant no stronger than the fleet-wide role adds nothing.
        let fleet = out.fleet;
        out.scoped.retain(|g| Some(g.role) > fleet);
        out
    }

    /// `role` over the whole fleet and nothing else.
    pub fn fleet_wide(role: Role) -> Grants {
        Grants::new(Some(role), [])
    }

    /// The same grants, none above `cap` (an API token's role).
    pub fn capped(self, cap: Role) -> Grants {
        Grants {
            cap: Some(self.cap.map_or(cap, |c| c.min(cap))),
            ..self
        }
    }

    fn limit(&self, role: Option<Role>) -> Option<Role> {
        match self.cap {
            Some(cap) => role.map(|r| r.min(cap)),
            None => role,
        }
    }

    /// The role held on every platform, if any.
    pub fn fleet(&self) -> Option<Role> {
        self.limit(self.fleet)
    }

    /// The strongest role held anywhere (on at least some platforms), if any.
    pub fn strongest(&self) -> Option<Role> {
        let scoped = self.scoped.iter().map(|g| g.role).max();
        self.limit(self.fleet.max(scoped))
    }

    /// Whether some of the user's rights stop short of the whole fleet.
    pub fn is_scoped(&self) -> bool {
        self.strongest() > self.fleet()
    }

    /// The role on the platform described by `platform`, if any.
    pub fn role_on(&self, platform: &PlatformFacts) -> Option<Role> {
        let scoped = self
            .scoped
            .iter()
            .filter(|g| g.selector.matches(platform))
            .map(|g| g.role)
            .max();
        self.limit(self.fleet.max(scoped))
    }

    /// Whether `role` (or a stronger one) is held on `platform`.
    pub fn allows(&self, role: Role, platform: &PlatformFacts) -> bool {
        self.role_on(platform) >= Some(role)
    }

    /// The platforms on which `role` (or a stronger one) is held, as a selector: `all` for a
    /// fleet-wide role, the `or` of the grants' selectors, or [`Selector::none`].
    pub fn scope(&self, role: Role) -> Selector {
        if self.fleet() >= Some(role) {
            return Selector::all();
        }
        if self.cap.is_some_and(|cap| cap < role) {
            return Selector::none();
        }
        let selectors = self
            .scoped
            .iter()
            .filter(|g| g.role >= role)
            .map(|g| g.selector.clone());
        Selector::any_of(selectors).unwrap_or_else(Selector::none)
    }

    /// The scoped grants in force (those stronger than the fleet-wide role).
    pub fn scoped(&self) -> impl Iterator<Item = ScopedGrant> + '_ {
        self.scoped.iter().map(|g| ScopedGrant {
            role: self.limit(Some(g.role)).unwrap_or(g.role),
            selector: g.selector.clone(),
        })
    }

    /// One line for people: `operator`, `viewer; operator on tag:web`, or `none`.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = self.fleet().map(|r| r.to_string()).into_iter().collect();
        for grant in self.scoped().filter(|g| Some(g.role) > self.fleet()) {
            parts.push(format!("{} on {}", grant.role, grant.selector));
        }
        match parts.is_empty() {
            true => "none".into(),
            false => parts.join("; "),
        }
    }
}

/// Most platform names an [`OutOfScope`] keeps.
pub const NAMED: usize = 10;

/// The platforms of a request on which the needed role is not held: how many, and the first
/// [`NAMED`] names in the order they were met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutOfScope {
    pub role: Role,
    pub count: usize,
    pub names: Vec<String>,
}

impl OutOfScope {
    /// The platforms among `platforms` (name and facts; `None` for a platform that no longer
    /// exists, which only a fleet-wide role covers) on which `grants` do not give `role`;
    /// `None` when there is none.
    pub fn of<'a>(
        grants: &Grants,
        role: Role,
        platforms: impl IntoIterator<Item = (&'a str, Option<PlatformFacts<'a>>)>,
    ) -> Option<OutOfScope> {
        if grants.fleet() >= Some(role) {
            return None;
        }
        let mut out = OutOfScope {
            role,
            count: 0,
            names: Vec::new(),
        };
        for (name, facts) in platforms {
            if facts.is_some_and(|facts| grants.allows(role, &facts)) {
                continue;
            }
            out.count += 1;
            if out.names.len() < NAMED {
                out.names.push(name.to_string());
            }
        }
        (out.count > 0).then_some(out)
    }
}

impl fmt::Display for OutOfScope {
    /// `requires role operator on db1, db2 (and 3 more): outside your grants`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "requires role {} on {}",
            self.role,
            self.names.join(", ")
        )?;
        if self.count > self.names.len() {
            write!(f, " (and {} more)", self.count - self.names.len())?;
        }
        write!(
            f,
            ": {} outside your grants",
            if self.count == 1 {
                "this platform is"
            } else {
                "these platforms are"
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::PlatformState;

    fn grant(role: Role, selector: &str) -> ScopedGrant {
        ScopedGrant {
            role,
            selector: selector.parse().unwrap(),
        }
    }

    fn facts<'a>(name: &'a str, tags: &'a [String]) -> PlatformFacts<'a> {
        PlatformFacts {
            name,
            host: "10.0.0.1",
            tags,
            state: PlatformState::NeverScanned,
            pinned: false,
            presented: false,
        }
    }

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn a_fleet_wide_role_alone_is_todays_single_role() {
        let web = tags(&["web"]);
        for role in Role::ALL {
            let grants = Grants::fleet_wide(role);
            assert_eq!(grants.fleet(), Some(role));
            assert_eq!(grants.strongest(), Some(role));
            assert_eq!(grants.role_on(&facts("web1", &web)), Some(role));
            assert!(grants.scope(role).is_all());
            assert!(!grants.is_scoped());
            assert_eq!(grants.summary(), role.as_str());
        }
        assert!(
            Grants::fleet_wide(Role::Viewer)
                .scope(Role::Operator)
                .is_none()
        );
    }

    #[test]
    fn the_role_on_a_platform_is_the_highest_grant_that_matches_it() {
        let grants = Grants::new(
            Some(Role::Viewer),
            [
                grant(Role::Operator, "tag:web"),
                grant(Role::Admin, "name:web-canary"),
            ],
        );
        let (web, db) = (tags(&["web"]), tags(&["db"]));
        assert_eq!(grants.role_on(&facts("web1", &web)), Some(Role::Operator));
        assert_eq!(
            grants.role_on(&facts("web-canary", &web)),
            Some(Role::Admin)
        );
        assert_eq!(grants.role_on(&facts("db1", &db)), Some(Role::Viewer));
        assert_eq!(grants.fleet(), Some(Role::Viewer));
        assert_eq!(grants.strongest(), Some(Role::Admin));
        assert!(grants.is_scoped());
        assert_eq!(
            grants.scope(Role::Operator),
            "tag:web or name:web-canary".parse().unwrap()
        );
        assert_eq!(
            grants.summary(),
            "viewer; operator on tag:web; admin on name:web-canary"
        );
    }

    #[test]
    fn without_a_fleet_role_only_scoped_platforms_are_seen() {
        let grants = Grants::new(None, [grant(Role::Operator, "tag:web")]);
        let (web, db) = (tags(&["web"]), tags(&["db"]));
        assert_eq!(grants.fleet(), None);
        assert_eq!(grants.role_on(&facts("db1", &db)), None);
        assert!(grants.allows(Role::Viewer, &facts("web1", &web)));
        assert_eq!(grants.scope(Role::Viewer), "tag:web".parse().unwrap());
        assert!(grants.scope(Role::Admin).is_none());
        assert!(Grants::new(None, []).scope(Role::Viewer).is_none());
        assert_eq!(Grants::new(None, []).summary(), "none");
    }

    #[test]
    fn an_all_grant_is_fleet_wide_and_weaker_scoped_grants_add_nothing() {
        let grants = Grants::new(
            None,
            [
                grant(Role::Operator, "all"),
                grant(Role::Viewer, "tag:db"),
                grant(Role::Admin, "tag:web"),
            ],
        );
        assert_eq!(grants.fleet(), Some(Role::Operator));
        assert_eq!(grants.scoped().count(), 1);
        assert_eq!(grants.summary(), "operator; admin on tag:web");
    }

    #[test]
    fn a_token_caps_the_role_everywhere_but_keeps_the_scope() {
        let grants =
            Grants::new(Some(Role::Viewer), [grant(Role::Admin, "tag:web")]).capped(Role::Operator);
        let (web, db) = (tags(&["web"]), tags(&["db"]));
        assert_eq!(grants.role_on(&facts("web1", &web)), Some(Role::Operator));
        assert_eq!(grants.role_on(&facts("db1", &db)), Some(Role::Viewer));
        assert_eq!(grants.strongest(), Some(Role::Operator));
        assert!(grants.scope(Role::Admin).is_none());
        let viewer_token = grants.clone().capped(Role::Viewer);
        assert_eq!(viewer_token.fleet(), Some(Role::Viewer));
        assert!(!viewer_token.is_scoped());
        assert_eq!(
            Grants::fleet_wide(Role::Admin)
                .capped(Role::Viewer)
                .capped(Role::Admin)
                .fleet(),
            Some(Role::Viewer),
            "a cap only ever lowers"
        );
    }

    #[test]
    fn out_of_scope_names_the_first_ten_and_counts_all() {
        let grants = Grants::new(None, [grant(Role::Operator, "tag:web")]);
        let (web, db) = (tags(&["web"]), tags(&["db"]));
        let names: Vec<String> = (0..12).map(|i| format!("db{i}")).collect();
        let mut platforms: Vec<(&str, Option<PlatformFacts>)> =
            vec![("web1", Some(facts("web1", &web)))];
        platforms.extend(names.iter().map(|n| (n.as_str(), Some(facts(n, &db)))));
        platforms.push(("gone", None));
        let out = OutOfScope::of(&grants, Role::Operator, platforms).unwrap();
        assert_eq!(out.count, 13);
        assert_eq!(out.names, names[..10]);
        assert_eq!(
            out.to_string(),
            "requires role operator on db0, db1, db2, db3, db4, db5, db6, db7, db8, db9 \
             (and 3 more): these platforms are outside your grants"
        );
        let web_only = [("web1", Some(facts("web1", &web)))];
        assert_eq!(OutOfScope::of(&grants, Role::Operator, web_only), None);
        let admin = OutOfScope::of(&grants, Role::Admin, web_only).unwrap();
        assert_eq!(
            admin.to_string(),
            "requires role admin on web1: this platform is outside your grants"
        );
        let everything = Grants::fleet_wide(Role::Operator);
        assert_eq!(
            OutOfScope::of(&everything, Role::Operator, [("gone", None)]),
            None
        );
    }
}
