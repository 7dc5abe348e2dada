//! Sign-in through the LDAP directory ([`crate::ldap`]), for the API login and the browser login
//! alike ([`super::auth::check_password`] hands over to [`sign_in`]).
//!
//! Who is asked: a username with no testum account, or one whose account came from LDAP, is
//! checked against the directory; a local account is checked against its own password only
//! (the directory never takes over a local name, the bootstrap `admin` included). A directory
//! user gets an account at the first sign-in, with no fleet-wide role: what it may do comes from
//! grants on its groups, which are the `ldap` groups named like its directory groups, created
//! when first seen and kept in step at each sign-in.

use axum::http::StatusCode;
use serde_json::json;

use super::AppState;
use super::auth::AuthUser;
use super::error::ApiError;
use super::provider_login::{self, Vouched};
use crate::ldap::{Directory, LdapError, LdapIdentity};
use crate::secret::Secret;
use crate::store::{AccountPolicy, Actor, NewAudit, ProviderUser, SignedIn};
use uuid::Uuid;

/// The `source` of LDAP users and groups.
pub const LDAP: &str = "ldap";

/// Sign `username` in with `password` through `directory`: the user, and what the audit event of
/// the sign-in should say about it (the provider, the subject, i.e. the entry's DN, and the group
/// changes); the caller checks a second factor and audits. A failure is audited here, with the
/// provider and a reason. Errors: 401
/// "invalid username or password" for anything the user got wrong (also an account disabled in
/// testum, or a directory username testum cannot take); 503 when the directory cannot be asked.
pub async fn sign_in(
    state: &AppState,
    directory: &Directory,
    username: &str,
    password: &Secret,
    remote: Option<String>,
) -> Result<(AuthUser, serde_json::Value), ApiError> {
    let failed = |reason: &'static str| failure(state, username, reason, remote.clone());
    // Only names testum could record reach the directory: no wildcard or filter syntax (escaped
    // anyway), and no spaces, which the directory would ignore while the per-username rate limit
    // counts "lisa " apart from "lisa".
    if crate::validate::username(username).is_err() {
        return Err(failed("username_not_allowed").await);
    }
    let identity = match directory.authenticate(username, password).await {
        Ok(identity) => identity,
        Err(LdapError::Rejected) => return Err(failed("rejected").await),
        Err(e @ LdapError::Unavailable(_)) => {
            tracing::warn!(error = %e, "LDAP sign-in failed");
            failed("directory_unavailable").await;
            return Err(unavailable());
        }
    };
    let account = match record(state, &identity).await? {
        Ok(account) => account,
        Err(reason) => return Err(failed(reason).await),
    };
    if account.user.disabled {
        return Err(failed("disabled").await);
    }
    let user = AuthUser::signed_in(&state.store, &account.user).await?;
    let details = json!({"provider": LDAP, "subject": identity.dn,
                         "user_created": account.created, "groups": account.groups,
                         "groups_joined": account.joined, "groups_left": account.left});
    Ok((user, details))
}

/// Record what the directory said of a user ([`provider_login::record`]; the account follows
/// the entry when it is renamed).
async fn record(
    state: &AppState,
    identity: &LdapIdentity,
) -> Result<Result<ProviderUser, &'static str>, ApiError> {
    let vouched = Vouched {
        source: LDAP,
        subject: &identity.dn,
        username: &identity.username,
        groups: &identity.groups,
    };
    provider_login::record(state, vouched, AccountPolicy::CreateFollowSubject).await
}

/// At the refresh of session `family_id` of `user`, a user from LDAP: ask the directory again
/// (without a password) so that offboarding there ends access here. The entry still there: its
/// groups are taken again (memberships, hence grants, follow the directory). Gone, left out by
/// the user filter, or no longer one testum can take: the session is ended (audited
/// `auth.refresh`, outcome `denied`, with the reason) and the answer is 401. The directory cannot
/// be asked: 503 (the refresh token is spent; sign in again once it answers).
pub async fn recheck(
    state: &AppState,
    directory: &Directory,
    user: &SignedIn,
    family_id: Uuid,
) -> Result<(), ApiError> {
    let looked_up = directory.lookup(&user.username).await.map_err(|e| {
        tracing::warn!(error = %e, user = %user.username, "LDAP re-check at refresh failed");
        unavailable()
    })?;
    let reason = match looked_up {
        None => "directory_entry_gone",
        Some(identity) => match record(state, &identity).await? {
            Ok(account) if account.user.id == user.user_id => return Ok(()),
            Ok(_) | Err(_) => "directory_entry_changed",
        },
    };
    let actor = Actor {
        user_id: Some(user.user_id),
        name: user.username.clone(),
    };
    state.store.end_session(&actor, family_id).await?;
    state
        .store
        .audit(NewAudit {
            actor: &actor,
            action: "auth.refresh",
            target: Some(format!("user:{}", user.user_id)),
            outcome: "denied",
            details: json!({"provider": LDAP, "reason": reason}),
        })
        .await?;
    Err(ApiError::unauthorized(
        "the directory no longer knows this account; the session is ended",
    ))
}

/// The 503 of a directory that cannot be asked.
fn unavailable() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the LDAP directory cannot be reached; local accounts can still sign in",
    )
}

/// Audit a failed LDAP sign-in (never the password) and return the 401 to answer.
async fn failure(
    state: &AppState,
    username: &str,
    reason: &'static str,
    remote: Option<String>,
) -> ApiError {
    match provider_login::audit_failure(state, username, LDAP, reason, remote, json!({})).await {
        Ok(()) => ApiError::unauthorized("invalid username or password"),
        Err(e) => e,
    }
}
