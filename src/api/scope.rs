//! Scoped grants at the API's edge: the access table ([`super::access`]) lets a route marked
//! [`super::access::Access::Scoped`] through for a user who holds its role on some platforms;
//! its handler then uses these helpers on the platforms it touches.
//!
//! - An action checks the role on every platform it would act on ([`require_on`]): when some
//!   are out of scope the whole request is refused, 403 problem+json naming the first ten of
//!   them and how many there are ([`crate::grants::OutOfScope`]).
//! - A single platform out of the user's sight is a 404, as if it did not exist
//!   ([`find_platform`]); one in sight without the needed role is a 403 naming it.
//! - Lists narrow their selector to the platforms in sight ([`narrowed`]), and task reads
//!   narrow to the targets on them ([`visible_platforms`]).

use std::collections::HashSet;

use axum::http::StatusCode;
use uuid::Uuid;

use super::AppState;
use super::auth::AuthUser;
use super::error::ApiError;
use crate::grants::OutOfScope;
use crate::role::Role;
use crate::selector::{PlatformFacts, Selector};
use crate::store::Platform;

/// 403 problem+json for an action on platforms out of scope: `requires role operator on db1,
/// db2 (and 3 more): these platforms are outside your grants`.
pub fn refused(out: &OutOfScope) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, out.to_string())
}

/// `Ok` when `user` holds `role` on every platform of `ids` (ids naming no platform are left
/// to the caller's own checks), else the 403 of [`refused`], naming them in the order given.
pub async fn require_on(
    state: &AppState,
    user: &AuthUser,
    role: Role,
    ids: &[Uuid],
) -> Result<(), ApiError> {
    if user.grants.fleet() >= Some(role) {
        return Ok(());
    }
    let mut facts: std::collections::HashMap<Uuid, crate::store::StoredFacts> = state
        .store
        .platform_facts(ids)
        .await?
        .into_iter()
        .map(|f| (f.id, f))
        .collect();
    let ordered: Vec<_> = ids.iter().filter_map(|id| facts.remove(id)).collect();
    let platforms = ordered.iter().map(|f| (f.name.as_str(), Some(f.facts())));
    match OutOfScope::of(&user.grants, role, platforms) {
        Some(out) => Err(refused(&out)),
        None => Ok(()),
    }
}

/// `Ok` when `user` holds `role` on `platform`: a 404 (as for no such platform) when they may
/// not even see it, a 403 naming it when they see it with a weaker role.
pub fn require_on_platform(
    user: &AuthUser,
    role: Role,
    platform: &Platform,
) -> Result<(), ApiError> {
    let facts = PlatformFacts::from(platform);
    match user.grants.role_on(&facts) {
        None => Err(ApiError::not_found(format!(
            "no platform with id {}",
            platform.id
        ))),
        Some(held) if held >= role => Ok(()),
        Some(_) => Err(refused(&OutOfScope {
            role,
            count: 1,
            names: vec![platform.name.clone()],
        })),
    }
}

/// The platform with path id `id` if `user` holds `role` on it (see [`require_on_platform`]).
pub async fn find_platform(
    state: &AppState,
    user: &AuthUser,
    id: &str,
    role: Role,
) -> Result<Platform, ApiError> {
    let platform = super::platforms::find(state, id).await?;
    require_on_platform(user, role, &platform)?;
    Ok(platform)
}

/// `selector` (`None`: every platform) narrowed to the platforms `user` may see: unchanged for
/// a fleet-wide viewer, else `selector and <the user's scope>`.
pub fn narrowed(user: &AuthUser, selector: Option<Selector>) -> Option<Selector> {
    let scope = user.grants.scope(Role::Viewer);
    if scope.is_all() {
        return selector;
    }
    Some(Selector::all_of(selector.into_iter().chain([scope])))
}

/// The platforms a user may see, for reads that narrow by id (tasks, their targets and output,
/// the access report): all, or these.
#[derive(Debug, Clone, Default)]
pub struct Visible(Option<(Vec<Uuid>, HashSet<Uuid>)>);

impl Visible {
    /// Every platform (a fleet-wide viewer).
    pub fn all() -> Visible {
        Visible(None)
    }

    /// The ids to narrow a query to; `None`: no narrowing.
    pub fn ids(&self) -> Option<&[Uuid]> {
        self.0.as_ref().map(|(ids, _)| ids.as_slice())
    }

    /// Whether platform `id` may be seen.
    pub fn contains(&self, id: Uuid) -> bool {
        self.0.as_ref().is_none_or(|(_, set)| set.contains(&id))
    }
}

/// The platforms `user` may see ([`Visible::all`] for a fleet-wide viewer, without reading
/// anything; else the fleet is read once, like a selector).
pub async fn visible_platforms(state: &AppState, user: &AuthUser) -> Result<Visible, ApiError> {
    let scope = user.grants.scope(Role::Viewer);
    if scope.is_all() {
        return Ok(Visible::all());
    }
    let ids: Vec<Uuid> = match scope.is_none() {
        true => Vec::new(),
        false => {
            let found = state.store.select_platforms(&scope).await?;
            found.into_iter().map(|(id, _)| id).collect()
        }
    };
    let set = ids.iter().copied().collect();
    Ok(Visible(Some((ids, set))))
}
