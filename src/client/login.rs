//! `testum login`: trade a username and password for tokens (`POST /api/auth/login`) and save
//! them as the session.

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
}

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
    let response = http_client()?
        .post(format!("{url}/api/auth/login"))
        .json(&serde_json::json!({"username": args.username, "password": password.expose()}))
        .send()
        .await
        .map_err(|e| anyhow!("cannot reach {url}: {}", error_chain(&e)))?;
    let status = response.status();
    if status == reqwest::StatusCode::UNAUTHORIZED {
        // The one 401 of login: the server does not say which of the two was wrong.
        bail!(
            "wrong username or password for {} at {url} (HTTP 401)",
            args.username
        );
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
