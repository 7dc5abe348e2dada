//! `testum login`: trade a username and password (and, for an account with two-factor sign-in,
//! a code) for tokens (`POST /api/auth/login`) and save them as the session.
//!
//! When the server answers that the account needs a second factor (problem type
//! `tag:testum,2026:totp-required`) and `--totp` was not given, the code is asked for at the
//! terminal and the login sent again.

use anyhow::{Context as _, anyhow, bail};
use clap::Args;

use super::api::{Tokens, base_url, error_chain, http_client, problem};
use super::session::Session;
use crate::secret::Secret;

/// `testum login` arguments.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Server URL.
    #[arg(long, env = "TESTUM_URL", default_value = "http://127.0.0.1:8080")]
    url: String,

    /// User name.
    #[arg(long, env = "TESTUM_USERNAME", default_value = "admin")]
    username: String,

    /// Password. Default: a prompt that does not echo. Prefer the environment variable or the
    /// prompt (flags show in `ps`).
    #[arg(long, env = "TESTUM_PASSWORD", hide_env_values = true)]
    password: Option<Secret>,

    /// Two-factor code for an account that has it on: the 6-digit code of the authenticator
    /// app, or a recovery code. Default: asked for when the server wants one.
    #[arg(long)]
    totp: Option<Secret>,
}

/// The problem type of a login that needs a second factor.
const TOTP_REQUIRED: &str = "tag:testum,2026:totp-required";
/// The problem type of a login whose second factor was wrong.
const TOTP_INVALID: &str = "tag:testum,2026:totp-invalid";

pub async fn login(args: LoginArgs) -> anyhow::Result<()> {
    let url = base_url(&args.url)?;
    let password = match args.password {
        Some(password) => password,
        None => Secret::new(
            rpassword::prompt_password(format!("Password for {} at {url}: ", args.username))
                .context(
                    "cannot read the password (set TESTUM_PASSWORD when there is no terminal)",
                )?,
        ),
    };
    let client = http_client()?;
    let send = |totp: Option<&Secret>| {
        let mut body =
            serde_json::json!({"username": args.username, "password": password.expose()});
        if let Some(code) = totp {
            body["totp"] = code.expose().into();
        }
        client
            .post(format!("{url}/api/auth/login"))
            .json(&body)
            .send()
    };
    let reach = |e: reqwest::Error| anyhow!("cannot reach {url}: {}", error_chain(&e));
    let mut response = send(args.totp.as_ref()).await.map_err(reach)?;
    if response.status() == reqwest::StatusCode::UNAUTHORIZED && args.totp.is_none() {
        let body = response.text().await.unwrap_or_default();
        if problem_type(&body) != TOTP_REQUIRED {
            bail!(
                "wrong username or password for {} at {url} (HTTP 401)",
                args.username
            );
        }
        let code = Secret::new(
            rpassword::prompt_password(format!(
                "Two-factor code for {} (authenticator app, or a recovery code): ",
                args.username
            ))
            .context("cannot read the two-factor code (give --totp when there is no terminal)")?,
        );
        response = send(Some(&code)).await.map_err(reach)?;
    }
    let status = response.status();
    if status == reqwest::StatusCode::UNAUTHORIZED {
        let body = response.text().await.unwrap_or_default();
        match problem_type(&body).as_str() {
            TOTP_REQUIRED => bail!(
                "{} at {url} signs in with a two-factor code: give --totp CODE (HTTP 401)",
                args.username
            ),
            TOTP_INVALID => bail!(
                "wrong two-factor code for {} at {url}: it is wrong, expired or used already \
                 (HTTP 401)",
                args.username
            ),
            // The one 401 of a wrong password: the server does not say which of the two was wrong.
            _ => bail!(
                "wrong username or password for {} at {url} (HTTP 401)",
                args.username
            ),
        }
    }
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        return Err(problem(status, &body, "the username or password is wrong"));
    }
    let tokens: Tokens = response
        .json()
        .await
        .context("unexpected answer from POST /api/auth/login")?;
    let session = Session {
        url: url.clone(),
        username: args.username,
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token,
    };
    let path = session.save()?;
    eprintln!(
        "logged in to {url} as {} (session saved in {})",
        session.username,
        path.display()
    );
    Ok(())
}

/// The `type` of a problem+json body, empty when there is none.
fn problem_type(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["type"].as_str().map(str::to_string))
        .unwrap_or_default()
}
