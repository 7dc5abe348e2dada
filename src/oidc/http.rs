//! The HTTP client of OpenID Connect: our reqwest 0.13 client behind the `openidconnect` crate's
//! [`openidconnect::AsyncHttpClient`] (the crate's own reqwest feature is built on reqwest 0.12).
//! As the crate requires, redirects are never followed (a redirected token request could hand
//! the client secret or the code to another host); answers are capped at [`MAX_BODY`].

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use openidconnect::{AsyncHttpClient, HttpRequest, HttpResponse};

/// Longest answer read from a provider: 1 MiB (a discovery document or key set is a few KB).
pub const MAX_BODY: usize = 1 << 20;
/// Longest wait for a provider's answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A failed request to a provider (the message never holds the request's body).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

/// The client the `openidconnect` crate calls: a named type (not a closure) so that the
/// futures it makes are `Send` for every lifetime, as axum handlers need.
#[derive(Debug, Clone)]
pub struct Http(pub reqwest::Client);

impl<'c> AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + Sync + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(send(&self.0, request))
    }
}

/// A client for one provider: no redirects, a 10-second timeout, and the CA certificates of
/// `ca_file` (PEM) trusted besides the system's. Errors: the file cannot be read or parsed.
pub fn client(ca_file: Option<&Path>) -> Result<Http, String> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT);
    if let Some(path) = ca_file {
        let pem =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("{}: not PEM certificates: {e}", path.display()))?
        {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map(Http).map_err(|e| e.to_string())
}

/// Send `request` with `client` and read the answer (at most [`MAX_BODY`] bytes).
async fn send(client: &reqwest::Client, request: HttpRequest) -> Result<HttpResponse, HttpError> {
    let (parts, body) = request.into_parts();
    let mut response = client
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .map_err(|e| HttpError(format!("{}: {}", parts.uri, describe(e))))?;
    let mut answer = openidconnect::http::Response::builder().status(response.status());
    if let Some(headers) = answer.headers_mut() {
        *headers = response.headers().clone();
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| HttpError(format!("{}: {}", parts.uri, describe(e))))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(HttpError(format!(
                "{}: the answer is longer than {MAX_BODY} bytes",
                parts.uri
            )));
        }
        body.extend_from_slice(&chunk);
    }
    answer.body(body).map_err(|e| HttpError(e.to_string()))
}

/// The error's text without the URL reqwest puts in it (the caller names the URL once).
fn describe(e: reqwest::Error) -> String {
    crate::client::api::error_chain(&e.without_url())
}
