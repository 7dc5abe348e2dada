//! The web UI: server-rendered pages (minijinja templates embedded in the binary), one small
//! plain-JavaScript file that calls the REST API with `fetch`, and a stylesheet. No CDN, no
//! build step.
//!
//! Routes (not API routes, not in the OpenAPI document):
//! - `GET /`: the login page without a session, else a redirect to `/ui/keys`.
//! - `POST /ui/login`, `POST /ui/logout`: see [`session`].
//! - `GET /ui/oidc/{name}/login`, `GET /ui/oidc/{name}/callback`: sign-in through an OpenID
//!   Connect provider, see [`oidc_login`].
//! - `GET /ui/keys`, `/ui/keys/{id}`, `/ui/platforms`, `/ui/platforms/{id}`, `/ui/tasks`, `/ui/tasks/{id}`,
//!   `/ui/schedules`, `/ui/access`, `/ui/audit`, `/ui/users`, `/ui/groups`, `/ui/import`,
//!   `/ui/notifications`, `/ui/account`: pages; without a session they redirect (303) to `/`, and
//!   for a user who must turn on two-factor sign-in first, every page but `/ui/account`
//!   redirects there.
//! - `GET /ui/static/{file}`: `app.js`, `platforms.js`, `keys.js`, `account.js` and `app.css`,
//!   public.
//!
//! Pages read through the same handlers as the API (so they show what the API shows, never a
//! secret); every change is a `fetch` to the REST API, authenticated by the session cookie and
//! the page's CSRF token, whose problem+json field errors the script puts next to the fields.

mod account_page;
mod assets;
mod audit_page;
mod groups_page;
mod key_pages;
pub mod oidc_login;
mod pages;
mod platforms_page;
pub mod session;
mod templates;

use axum::Router;
use axum::routing::{get, post};

use crate::api::AppState;

/// The UI's routes, merged into [`crate::api::router`].
///
/// The routes that check credentials (the login form, and each OpenID provider's callback, which
/// makes testum call the provider) are limited per client IP like the API's login (`limits`); an
/// OIDC sign-in's start only sends the browser on, and does not spend from that allowance.
pub fn router(limits: &crate::api::ratelimit::RateLimits) -> Router<AppState> {
    let sign_in = Router::new()
        .route("/ui/login", post(session::login))
        .route("/ui/oidc/{name}/callback", get(oidc_login::callback))
        .route_layer(crate::api::ratelimit::ip_layer(limits));
    Router::new()
        .merge(sign_in)
        .route("/ui/oidc/{name}/login", get(oidc_login::start))
        .route("/", get(pages::home))
        .route("/ui/logout", post(session::logout))
        .route("/ui/keys", get(key_pages::keys))
        .route("/ui/keys/{id}", get(key_pages::key))
        .route("/ui/platforms", get(platforms_page::platforms))
        .route("/ui/platforms/{id}", get(pages::platform))
        .route("/ui/tasks", get(pages::tasks))
        .route("/ui/tasks/{id}", get(pages::task))
        .route("/ui/schedules", get(pages::schedules))
        .route("/ui/access", get(pages::access))
        .route("/ui/audit", get(audit_page::audit))
        .route("/ui/users", get(pages::users))
        .route("/ui/groups", get(groups_page::groups))
        .route("/ui/import", get(pages::import))
        .route("/ui/notifications", get(pages::notifications))
        .route("/ui/account", get(account_page::account))
        .route("/ui/static/{file}", get(assets::file))
}
