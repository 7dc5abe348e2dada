//! Sign-in through an OpenID Connect provider, the browser side ([`crate::oidc`] does the
//! protocol):
//!
//! - `GET /ui/oidc/{name}/login` starts a sign-in: a fresh `state`, `nonce` and PKCE verifier
//!   are sealed under the master key into the cookie `testum_oidc` (HttpOnly, SameSite=Lax so
//!   that the provider's redirect back carries it, Path=/ui/oidc/, 10 minutes; Secure with TLS)
//!   and the browser is sent (303) to the provider. The state is thereby bound to this browser:
//!   nothing is stored server-side, and any process of a scaled-out service can take the
//!   callback.
//! - `GET /ui/oidc/{name}/callback?code&state` refuses a callback whose `state` is not the one
//!   sealed in this browser's cookie (or without the cookie, or after 10 minutes), exchanges the
//!   code, checks the ID token, finds or makes the account (`oidc:<name>` users and groups, see
//!   [`crate::api::provider_login`]), starts a browser session and clears the cookie; the
//!   answer is a page that moves on to the keys page (see [`continue_page`] for why not a
//!   redirect).
//!
//! Every attempt is audited as `auth.login`, with the provider (`oidc:<name>`), the subject on
//! success, and on failure a stable `reason` (`state_mismatch`, `provider_error`, `code_refused`,
//! `nonce_mismatch`, `id_token_expired`, `signature_invalid`, `no_account`, ...), never a code or a
//! token. A failure shows the login page (401) with what went wrong in words.
//!
//! Two-factor sign-in is the provider's business: testum's TOTP is for local and LDAP accounts.

use axum::extract::{ConnectInfo, Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq as _;

use super::pages::{PageError, login_page};
use super::session::secure_cookies;
use crate::api::AppState;
use crate::api::auth::AuthUser;
use crate::api::error::ApiError;
use crate::api::provider_login::{self, Vouched};
use crate::oidc::{OidcError, Pending, Provider};
use crate::store::{AccountPolicy, NewAudit};

/// Name of the cookie that holds a pending sign-in.
const COOKIE: &str = "testum_oidc";
/// How long a started sign-in may take: 10 minutes.
const PENDING_SECS: i64 = 600;
/// Associated data of the sealed pending sign-in (binds the ciphertext to its use).
const AAD: &[u8] = b"testum oidc pending sign-in v1";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The `source` of users and groups of provider `name`.
pub fn source(name: &str) -> String {
    format!("oidc:{name}")
}

/// The provider named in the path, or a 404 page.
fn provider(state: &AppState, name: &str) -> Result<std::sync::Arc<Provider>, PageError> {
    state
        .oidc
        .get(name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("no sign-in provider is named {name:?}")).into())
}

/// `Set-Cookie` of the pending sign-in `value`, living `max_age` seconds (0 clears it).
fn cookie(value: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/ui/oidc/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("testum_oidc=; Path=/ui/oidc/; Max-Age=0"))
}

/// `GET /ui/oidc/{name}/login`: see the module docs. 404 for an unknown provider; 503 (the
/// login page with the reason) when the provider's metadata cannot be read.
pub async fn start(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, PageError> {
    let provider = provider(&state, &name)?;
    let (url, pending) = match provider.begin(PENDING_SECS).await {
        Ok(begun) => begun,
        Err(e) => {
            tracing::warn!(provider = %name, error = %e, "cannot start an OIDC sign-in");
            let reason = format!(
                "{} cannot be reached just now; local accounts can still sign in",
                provider.settings.display_name
            );
            let page = login_page(&state, "", Some(&reason), false)?;
            return Ok((StatusCode::SERVICE_UNAVAILABLE, page).into_response());
        }
    };
    let plain = serde_json::to_vec(&pending).map_err(ApiError::internal)?;
    let sealed = B64.encode(state.master_key.seal(&plain, AAD));
    let mut response = Redirect::to(url.as_str()).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        cookie(&sealed, PENDING_SECS, secure_cookies(&state)),
    );
    Ok(response)
}

/// The query of the provider's redirect back (RFC 6749 §4.1.2, §4.1.2.1).
#[derive(Debug, Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// The pending sign-in sealed in the request's cookie, if it opens and is not expired.
fn pending_of(state: &AppState, headers: &HeaderMap) -> Option<Pending> {
    let value = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)?
        .1;
    let sealed = B64.decode(value).ok()?;
    let plain = state.master_key.open(&sealed, AAD).ok()?;
    let pending: Pending = serde_json::from_slice(&plain).ok()?;
    (pending.expires_at > chrono::Utc::now().timestamp()).then_some(pending)
}

/// A failed callback: what the audit records and what the page says.
struct Failure {
    reason: &'static str,
    /// The username, when the provider named one.
    username: Option<String>,
    /// More audit fields (an object).
    details: serde_json::Value,
    message: String,
}

impl Failure {
    fn new(reason: &'static str, message: String) -> Failure {
        Failure {
            reason,
            username: None,
            details: json!({}),
            message,
        }
    }
}

/// `GET /ui/oidc/{name}/callback`: see the module docs. Success: a browser session and a
/// redirect (303) to the keys page; failure: the login page with the reason (401), audited.
pub async fn callback(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<Callback>,
    connect_info: Option<Extension<ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let provider = provider(&state, &name)?;
    let remote = connect_info.map(|Extension(ConnectInfo(addr))| addr.ip().to_string());
    let source = source(&name);
    let outcome = match sign_in(&state, &provider, &source, query, &headers).await? {
        Ok((user, details)) => {
            let mut all = json!({"remote_addr": remote, "provider": source});
            crate::api::auth::merge(&mut all, details);
            state
                .store
                .audit(NewAudit {
                    actor: &user.actor(),
                    action: "auth.login",
                    target: Some(format!("user:{}", user.id)),
                    outcome: "success",
                    details: all,
                })
                .await
                .map_err(ApiError::from)?;
            let mut page = continue_page().into_response();
            let set_cookie = super::session::create(&state, &user).await?;
            page.headers_mut().append(header::SET_COOKIE, set_cookie);
            page
        }
        Err(failure) => {
            let actor = failure.username.unwrap_or_else(|| source.clone());
            provider_login::audit_failure(
                &state,
                &actor,
                &source,
                failure.reason,
                remote,
                failure.details,
            )
            .await?;
            let page = login_page(&state, "", Some(&failure.message), false)?;
            (StatusCode::UNAUTHORIZED, page).into_response()
        }
    };
    let mut response = outcome;
    response
        .headers_mut()
        .append(header::SET_COOKIE, cookie("", 0, secure_cookies(&state)));
    Ok(response)
}

/// The answer to a successful callback: a page that moves on to the keys page by itself. Not a
/// redirect: the callback is reached by the provider's redirect, a navigation another site
/// started, and a browser does not send a SameSite=Strict cookie (the session's) on a redirect
/// of that navigation; a navigation this page starts is testum's own.
fn continue_page() -> axum::response::Html<&'static str> {
    axum::response::Html(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"0;url=/ui/keys\"><title>Signed in</title></head>\
         <body><main><p>Signed in. <a href=\"/ui/keys\">Continue</a></p></main></body></html>",
    )
}

/// The checks of a callback, in order; `Ok(Err(_))` for a refused sign-in, `Err` for a fault of
/// testum (its database).
async fn sign_in(
    state: &AppState,
    provider: &Provider,
    source: &str,
    query: Callback,
    headers: &HeaderMap,
) -> Result<Result<(AuthUser, serde_json::Value), Failure>, ApiError> {
    let display = &provider.settings.display_name;
    let pending = pending_of(state, headers).filter(|p| p.provider == provider.settings.name);
    let state_matches = match (&pending, &query.state) {
        (Some(p), Some(given)) => bool::from(p.state.as_bytes().ct_eq(given.as_bytes())),
        _ => false,
    };
    let Some(pending) = pending.filter(|_| state_matches) else {
        return Ok(Err(Failure::new(
            "state_mismatch",
            format!(
                "This sign-in through {display} was not started in this browser, or took more \
                 than 10 minutes: start it again."
            ),
        )));
    };
    if let Some(error) = query.error {
        // The provider's error code (RFC 6749 §4.1.2.1), kept to its alphabet.
        let code: String = error
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        let mut failure = Failure::new(
            "provider_error",
            format!("{display} did not sign you in ({code})."),
        );
        failure.details = json!({"provider_error": code});
        return Ok(Err(failure));
    }
    let Some(code) = query.code else {
        return Ok(Err(Failure::new(
            "code_missing",
            format!("{display} sent no sign-in code back: start again."),
        )));
    };
    let identity = match provider.finish(code, &pending).await {
        Ok(identity) => identity,
        Err(e) => {
            tracing::warn!(provider = %provider.settings.name, error = %e, "OIDC sign-in refused");
            let mut failure = Failure::new(e.reason(), message(display, &e));
            failure.details = json!({"detail": e.to_string()});
            return Ok(Err(failure));
        }
    };
    let accounts = if provider.settings.auto_create {
        AccountPolicy::CreatePinSubject
    } else {
        AccountPolicy::ExistingOnly
    };
    let vouched = Vouched {
        source,
        subject: &identity.subject,
        username: &identity.username,
        groups: &identity.groups,
    };
    let refused = |reason: &'static str, message: String| Failure {
        reason,
        username: Some(identity.username.clone()),
        details: json!({"subject": identity.subject}),
        message,
    };
    let account = match provider_login::record(state, vouched, accounts).await? {
        Ok(account) => account,
        Err(reason) => {
            let message = refusal_message(reason, &identity.username, display);
            return Ok(Err(refused(reason, message)));
        }
    };
    if account.user.disabled {
        return Ok(Err(refused(
            "disabled",
            format!("The testum account {} is disabled.", account.user.username),
        )));
    }
    let user = AuthUser::signed_in(&state.store, &account.user).await?;
    let details = json!({"subject": identity.subject, "user_created": account.created,
                         "groups": account.groups, "groups_joined": account.joined,
                         "groups_left": account.left});
    Ok(Ok((user, details)))
}

/// What the login page says of a refused ID token or code.
fn message(display: &str, e: &OidcError) -> String {
    match e {
        OidcError::Unavailable(_) => {
            format!("{display} cannot be reached just now; local accounts can still sign in.")
        }
        OidcError::NoUsername(claim) => format!(
            "{display} did not say who you are (no {claim} claim): ask an admin to check the \
             username claim setting."
        ),
        OidcError::IdToken {
            reason: "id_token_expired" | "id_token_from_the_future",
            ..
        } => format!(
            "The sign-in through {display} could not be verified ({}): the clocks of testum and \
             {display} disagree; tell your administrator.",
            e.reason().replace('_', " ")
        ),
        OidcError::CodeRefused(_) | OidcError::IdToken { .. } => format!(
            "The sign-in through {display} could not be verified ({}): start again.",
            e.reason().replace('_', " ")
        ),
    }
}

/// What the login page says when testum has no account for the provider's user.
fn refusal_message(reason: &str, username: &str, display: &str) -> String {
    match reason {
        "no_account" => format!(
            "testum has no account {username:?}; an admin creates accounts before their first \
             sign-in through {display}."
        ),
        "local_account_of_that_name" => {
            format!("{username:?} is a local testum account: sign in with its password.")
        }
        "subject_changed" => {
            format!("The testum account {username:?} belongs to another {display} user.")
        }
        "admin_account_not_linked" => {
            format!("{username:?} holds the admin role: it signs in with its password only.")
        }
        "account_of_another_provider" => {
            format!("The testum account {username:?} signs in another way, not through {display}.")
        }
        "disabled" => format!("The testum account {username:?} is disabled."),
        _ => format!("{display} names you {username:?}, which is not a testum username."),
    }
}
