//! What every sign-in provider (LDAP, OpenID Connect) does with the user it vouches for: record
//! the account and its groups ([`record`]), and audit a failed sign-in ([`audit_failure`]).

use serde_json::json;

use super::AppState;
use super::error::ApiError;
use crate::store::{AccountPolicy, Actor, NewAudit, ProviderSignIn, ProviderUser};

/// Most provider groups recorded for one user (the rest are left out, with a warning).
pub const MAX_GROUPS: usize = 200;

/// A user as its provider described it.
#[derive(Debug, Clone, Copy)]
pub struct Vouched<'a> {
    /// `ldap` or `oidc:<name>`.
    pub source: &'a str,
    /// The provider's id of the user (an LDAP DN, an ID token's `sub`).
    pub subject: &'a str,
    /// The username the provider gave, not checked yet.
    pub username: &'a str,
    /// The provider's group names, not checked yet.
    pub groups: &'a [String],
}

/// Record what a provider said of a user: its account (found, created or linked as `accounts`
/// says) and its groups of that provider: the names testum can take ([`crate::validate::name`]),
/// at most [`MAX_GROUPS`] (warned). `Ok(Err(reason))` when testum cannot take the user: a
/// username that is not a valid testum username, or any [`crate::store::ProviderRefusal`].
pub async fn record(
    state: &AppState,
    user: Vouched<'_>,
    accounts: AccountPolicy,
) -> Result<Result<ProviderUser, &'static str>, ApiError> {
    let Ok(name) = crate::validate::username(user.username) else {
        tracing::warn!(source = user.source, subject = %user.subject,
            "the provider's username is not a valid testum username");
        return Ok(Err("username_not_allowed"));
    };
    let mut groups: Vec<String> = user
        .groups
        .iter()
        .filter_map(|g| crate::validate::name(g).ok())
        .collect();
    if groups.len() < user.groups.len() {
        tracing::warn!(source = user.source, subject = %user.subject,
            dropped = user.groups.len() - groups.len(),
            "some of the user's provider groups are not names testum takes (letters, digits, \
             '.', '_', '-', ...); they are left out, and so are their grants");
    }
    if groups.len() > MAX_GROUPS {
        tracing::warn!(source = user.source, subject = %user.subject, groups = groups.len(),
            "user is in more provider groups than testum records; the first {MAX_GROUPS} are kept");
        groups.truncate(MAX_GROUPS);
    }
    let recorded = state
        .store
        .provider_sign_in(&ProviderSignIn {
            source: user.source,
            subject: user.subject,
            username: &name,
            groups: &groups,
            accounts,
        })
        .await?;
    Ok(recorded.map_err(|refusal| refusal.reason()))
}

/// Audit a failed sign-in through provider `source` as `auth.login` with outcome `failure` by
/// the typed actor `username` (never a password, a code or a token): `reason` is the stable
/// reason, `more` further fields (an object) merged into the details.
pub async fn audit_failure(
    state: &AppState,
    username: &str,
    source: &str,
    reason: &str,
    remote: Option<String>,
    more: serde_json::Value,
) -> Result<(), ApiError> {
    let mut details = json!({"remote_addr": remote, "provider": source, "reason": reason});
    super::auth::merge(&mut details, more);
    state
        .store
        .audit(NewAudit {
            actor: &Actor::typed(username),
            action: "auth.login",
            target: None,
            outcome: "failure",
            details,
        })
        .await?;
    Ok(())
}
