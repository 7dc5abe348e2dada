//! The HTTP side of the CLI client: JSON calls with the right credential, problem+json answers
//! turned into one-line errors, and one token refresh after a 401.
//!
//! Credentials, first match wins: `--token`/`TESTUM_TOKEN` (an API token, never refreshed or
//! saved), else the session saved by `testum login`. The server URL: `--url`/`TESTUM_URL`, else
//! the session's.

use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::Connection;
use super::session::Session;
use crate::secret::Secret;

/// How long a connection attempt to the server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one API call may take (the WebSocket stream has no such bound).
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Page size when the client reads a whole list.
const PAGE: u32 = 500;

/// A connection to the API with a credential.
pub struct Api {
    http: reqwest::Client,
    base: String,
    credential: Credential,
}

enum Credential {
    /// `TESTUM_TOKEN`: used as is.
    Token(Secret),
    /// The saved session: refreshed (and saved again) once after a 401 when it has a refresh token.
    Session(Session),
}

/// How long a download (`GET` of a task's raw output) may take as a whole.
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(3600);

/// One page of a list answer.
#[derive(serde::Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The `cursor` of the next page; `None` on the last.
    pub next_cursor: Option<String>,
}

/// A reqwest client with the CLI's timeouts.
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(CALL_TIMEOUT)
        .user_agent(concat!("testum-cli/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("cannot set up the HTTP client")
}

/// `path` with `query` URL-encoded after a `?` (none when `query` is empty).
pub fn with_query(path: &str, query: &[(&str, String)]) -> anyhow::Result<String> {
    if query.is_empty() {
        return Ok(path.to_string());
    }
    let query = serde_urlencoded::to_string(query).context("cannot encode the query")?;
    Ok(format!("{path}?{query}"))
}

/// `url` without trailing slashes; it must be an http(s) URL.
pub fn base_url(url: &str) -> anyhow::Result<String> {
    let url = url.trim().trim_end_matches('/');
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        bail!("--url: must start with http:// or https:// (got {url:?})");
    }
    Ok(url.to_string())
}

impl Api {
    /// The API as `connection` (flags, environment) and the saved session say.
    pub fn open(connection: &Connection) -> anyhow::Result<Api> {
        let session = Session::load()?;
        let url = connection
            .url
            .clone()
            .or_else(|| session.as_ref().map(|s| s.url.clone()))
            .ok_or_else(|| {
                anyhow!(
                    "not logged in: run testum login --url URL (or set TESTUM_URL and TESTUM_TOKEN)"
                )
            })?;
        let credential = match (&connection.token, session) {
            (Some(token), _) => Credential::Token(token.clone()),
            (None, Some(session)) => Credential::Session(session),
            (None, None) => bail!("not logged in: run testum login (or set TESTUM_TOKEN)"),
        };
        Ok(Api {
            http: http_client()?,
            base: base_url(&url)?,
            credential,
        })
    }

    /// The bearer token in force.
    pub fn token(&self) -> &str {
        match &self.credential {
            Credential::Token(token) => token.expose(),
            Credential::Session(session) => session.access_token.expose(),
        }
    }

    /// The server's URL of `path` (e.g. a UI page to point people at).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The `ws://` or `wss://` URL of `path`.
    pub fn ws_url(&self, path: &str) -> String {
        let base = match self.base.strip_prefix("https://") {
            Some(rest) => format!("wss://{rest}"),
            None => format!("ws://{}", self.base.trim_start_matches("http://")),
        };
        format!("{base}{path}")
    }

    /// `GET path` as `T`.
    pub async fn get<T: DeserializeOwned>(&mut self, path: &str) -> anyhow::Result<T> {
        self.call(Method::GET, path, None::<&()>).await
    }

    /// `POST path` with a JSON `body`, answer as `T`.
    pub async fn post<T: DeserializeOwned>(
        &mut self,
        path: &str,
        body: &impl Serialize,
    ) -> anyhow::Result<T> {
        self.call(Method::POST, path, Some(body)).await
    }

    /// `PATCH path` with a JSON `body`, answer as `T`.
    pub async fn patch<T: DeserializeOwned>(
        &mut self,
        path: &str,
        body: &impl Serialize,
    ) -> anyhow::Result<T> {
        self.call(Method::PATCH, path, Some(body)).await
    }

    /// `DELETE path`; a successful answer has no body.
    pub async fn delete(&mut self, path: &str) -> anyhow::Result<()> {
        self.send(Method::DELETE, path, None::<&()>).await.map(drop)
    }

    /// `GET path`, the answer's text as is (e.g. CSV).
    pub async fn get_text(&mut self, path: &str) -> anyhow::Result<String> {
        self.send(Method::GET, path, None::<&()>).await
    }

    /// One page of the list at `path` (which may carry a query already): at most `limit` items
    /// from `cursor` on (the first page without one).
    pub async fn page<T: DeserializeOwned>(
        &mut self,
        path: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> anyhow::Result<Page<T>> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut page_path = format!("{path}{separator}limit={limit}");
        if let Some(cursor) = cursor {
            page_path.push('&');
            page_path.push_str(&serde_urlencoded::to_string([("cursor", cursor)])?);
        }
        self.get(&page_path).await
    }

    /// Every item of the list at `path` (all pages; `path` may carry a query already).
    pub async fn list_all<T: DeserializeOwned>(&mut self, path: &str) -> anyhow::Result<Vec<T>> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page: Page<T> = self.page(path, PAGE, cursor.as_deref()).await?;
            items.extend(page.items);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(items),
            }
        }
    }

    /// `GET path`, the answer's bytes written to `out` as they arrive (never held whole).
    pub async fn download(
        &mut self,
        path: &str,
        out: &mut impl std::io::Write,
    ) -> anyhow::Result<()> {
        let mut response = self
            .respond(Method::GET, path, None::<&()>, DOWNLOAD_TIMEOUT)
            .await?;
        let cut = |e: reqwest::Error| {
            anyhow!("cannot read the answer to GET {path}: {}", error_chain(&e))
        };
        while let Some(chunk) = response.chunk().await.map_err(cut)? {
            out.write_all(&chunk)
                .and_then(|()| out.flush())
                .context("cannot write the output")?;
        }
        Ok(())
    }

    async fn call<T: DeserializeOwned>(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> anyhow::Result<T> {
        let text = self.send(method.clone(), path, body).await?;
        let text = if text.is_empty() { "null" } else { &text };
        serde_json::from_str(text)
            .with_context(|| format!("unexpected answer from {method} {path}"))
    }

    /// Send a request; the text of a successful answer, else the problem as one line.
    async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> anyhow::Result<String> {
        let response = self
            .respond(method.clone(), path, body, CALL_TIMEOUT)
            .await?;
        // A body cut short (the CSV report streams) is an error, never a shorter answer.
        response.text().await.map_err(|e| {
            anyhow!(
                "cannot read the answer to {method} {path}: {}",
                error_chain(&e)
            )
        })
    }

    /// Send a request that may take `timeout` as a whole; the successful answer (its body not
    /// read yet), else the problem as one line.
    async fn respond(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
        timeout: Duration,
    ) -> anyhow::Result<reqwest::Response> {
        let mut refreshed = false;
        loop {
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .timeout(timeout)
                .bearer_auth(self.token());
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request
                .send()
                .await
                .map_err(|e| anyhow!("cannot reach {}: {}", self.base, error_chain(&e)))?;
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            if status == StatusCode::UNAUTHORIZED && !refreshed && self.refresh().await? {
                refreshed = true;
                continue;
            }
            let text = response.text().await.unwrap_or_default();
            let hint = match self.credential {
                Credential::Token(_) => {
                    "the API token was refused: check TESTUM_TOKEN or --token (expired or revoked?)"
                }
                Credential::Session(_) => "the session has ended: run testum login",
            };
            return Err(problem(status, &text, hint));
        }
    }

    /// After a 401: trade the session's refresh token for new tokens and save them. `false` when
    /// there is nothing to refresh with (an API token, or a server without refresh tokens).
    async fn refresh(&mut self) -> anyhow::Result<bool> {
        let Credential::Session(session) = &mut self.credential else {
            return Ok(false);
        };
        let Some(refresh_token) = &session.refresh_token else {
            return Ok(false);
        };
        let response = self
            .http
            .post(format!("{}/api/auth/refresh", self.base))
            .json(&serde_json::json!({"refresh_token": refresh_token.expose()}))
            .send()
            .await
            .map_err(|e| anyhow!("cannot reach {}: {}", self.base, error_chain(&e)))?;
        if !response.status().is_success() {
            bail!("the session has ended: run testum login");
        }
        let tokens: Tokens = response
            .json()
            .await
            .context("unexpected answer from POST /api/auth/refresh")?;
        session.access_token = tokens.access_token;
        if tokens.refresh_token.is_some() {
            session.refresh_token = tokens.refresh_token;
        }
        session.save()?;
        Ok(true)
    }
}

/// The token part of a login or refresh answer.
#[derive(serde::Deserialize)]
pub struct Tokens {
    pub access_token: Secret,
    #[serde(default)]
    pub refresh_token: Option<Secret>,
}

/// An error answer of the server, as one line (see [`problem`]); callers that expect a refusal
/// (a 409) find its status with `downcast_ref`.
#[derive(Debug, thiserror::Error)]
#[error("{message} (HTTP {status}{hint})")]
pub struct Refused {
    /// The HTTP status code.
    pub status: u16,
    /// The problem's field errors, else its detail, else the status's reason.
    pub message: String,
    /// `: what to do` after the status, or empty.
    hint: String,
}

/// One line for an error answer: the problem's field errors (`field: message; ...`), else its
/// `detail`, else the status; with the status code, and for a 401 `unauthorized` (what to do
/// about it).
pub fn problem(status: StatusCode, body: &str, unauthorized: &str) -> anyhow::Error {
    let value: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let fields: Vec<String> = value["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    format!(
                        "{}: {}",
                        e["field"].as_str().unwrap_or("?"),
                        e["message"].as_str().unwrap_or("is invalid")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let message = if !fields.is_empty() {
        fields.join("; ")
    } else if let Some(detail) = value["detail"].as_str() {
        detail.to_string()
    } else {
        status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_lowercase()
    };
    let hint = match status {
        StatusCode::UNAUTHORIZED if !unauthorized.is_empty() => format!(": {unauthorized}"),
        _ => String::new(),
    };
    Refused {
        status: status.as_u16(),
        message,
        hint,
    }
    .into()
}

/// `e` with its sources, on one line (reqwest's top-level message alone hides the cause).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_are_named() {
        let body = r#"{"type":"about:blank","title":"Unprocessable Entity","status":422,
            "detail":"name: must not be blank","errors":[{"field":"name","message":"must not be blank"},
            {"field":"public_key","message":"is not a public key"}]}"#;
        assert_eq!(
            problem(StatusCode::UNPROCESSABLE_ENTITY, body, "").to_string(),
            "name: must not be blank; public_key: is not a public key (HTTP 422)"
        );
        assert_eq!(
            problem(StatusCode::NOT_FOUND, r#"{"detail":"no such task"}"#, "").to_string(),
            "no such task (HTTP 404)"
        );
        assert_eq!(
            problem(StatusCode::BAD_GATEWAY, "<html>", "").to_string(),
            "bad gateway (HTTP 502)"
        );
        assert_eq!(
            problem(
                StatusCode::UNAUTHORIZED,
                r#"{"detail":"invalid token"}"#,
                "run testum login"
            )
            .to_string(),
            "invalid token (HTTP 401: run testum login)"
        );
    }

    #[test]
    fn urls_must_be_http() {
        assert_eq!(base_url("http://h:8080/").unwrap(), "http://h:8080");
        assert!(base_url("h:8080").is_err());
    }
}
