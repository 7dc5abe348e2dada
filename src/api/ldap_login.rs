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
use crate::ldap::{Directory, LdapError};
use crate::secret::Secret;
use crate::store::{Actor, NewAudit, ProviderSignIn, SignedIn, StoreError};

/// The `source` of LDAP users and groups.
pub const LDAP: &str = "ldap";

/// Most directory groups recorded for one user (the rest are left out, with a warning).
const MAX_GROUPS: usize = 200;

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
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the LDAP directory cannot be reached; local accounts can still sign in",
            ));
        }
    };
    let Ok(name) = crate::validate::username(&identity.username) else {
        tracing::warn!(dn = %identity.dn, "LDAP username is not a valid testum username");
        return Err(failed("username_not_allowed").await);
    };
    let mut groups: Vec<String> = identity
        .groups
        .iter()
        .filter_map(|g| crate::validate::name(g).ok())
        .collect();
    if groups.len() > MAX_GROUPS {
        tracing::warn!(dn = %identity.dn, groups = groups.len(), "LDAP user is in more groups than testum records; the first {MAX_GROUPS} by name are kept");
        groups.truncate(MAX_GROUPS);
    }
    let recorded = state
        .store
        .provider_sign_in(&ProviderSignIn {
            source: LDAP,
            subject: &identity.dn,
            username: &name,
            groups: &groups,
        })
        .await;
    let account = match recorded {
        Ok(account) => account,
        // A local account of that name (found by a case-insensitive index): never taken over.
        Err(StoreError::Conflict(_)) => return Err(failed("local_account_of_that_name").await),
        Err(e) => return Err(e.into()),
    };
    if account.user.disabled {
        return Err(failed("disabled").await);
    }
    let user = AuthUser::load(
        &state.store,
        SignedIn {
            user_id: account.user.id,
            username: account.user.username.clone(),
            role: account.user.role,
            token_role: None,
        },
    )
    .await?;
    let details = json!({"provider": LDAP, "subject": identity.dn,
                         "user_created": account.created, "groups": groups,
                         "groups_joined": account.joined, "groups_left": account.left});
    Ok((user, details))
}

/// Audit a failed LDAP sign-in (never the password) and return the 401 to answer.
async fn failure(
    state: &AppState,
    username: &str,
    reason: &'static str,
    remote: Option<String>,
) -> ApiError {
    let audited = state
        .store
        .audit(NewAudit {
            actor: &Actor::typed(username),
            action: "auth.login",
            target: None,
            outcome: "failure",
            details: json!({"remote_addr": remote, "provider": LDAP, "reason": reason}),
        })
        .await;
    match audited {
        Ok(_) => ApiError::unauthorized("invalid username or password"),
        Err(e) => e.into(),
    }
}
