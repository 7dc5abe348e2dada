//! OpenID Connect sign-in (OpenID Connect Core 1.0, authorization code flow, with PKCE, RFC 7636):
//! the provider side of it. The `openidconnect` crate does the protocol: discovery (OpenID
//! Connect Discovery 1.0), the authorization URL, the code exchange and every check of the ID
//! token (signature against the provider's published keys, `iss`, `aud`, `azp`, `exp`, `nonce`,
//! §3.1.3.7); nothing here decodes a token by hand. The browser side (the pending sign-in bound
//! to the browser by a sealed cookie, the callback, the account) is
//! [`crate::ui::oidc_login`].
//!
//! Settings: [`settings`]. At start every provider is discovered and its client secret checked
//! ([`Provider::open`]); a provider that fails stops the start with one line naming the setting
//! at fault, or, with `ON_ERROR=disable`, is left out with an error in the log. Local accounts
//! sign in either way.

pub mod http;
pub mod settings;

use std::sync::Arc;
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::url;
use openidconnect::{
    AdditionalClaims, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret,
    CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields,
    IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    StandardErrorResponse, StandardTokenResponse, TokenResponse as _,
};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

use crate::client::api::error_chain;

pub use settings::{OidcSettings, ProviderSettings};

/// How long discovered metadata (endpoints, signing keys) is used before it is read again, so a
/// provider's key rotation is picked up without a restart.
const METADATA_TTL: Duration = Duration::from_secs(300);
/// Clock difference allowed when checking an ID token's `exp`: 60 seconds (the usual allowance,
/// as jsonwebtoken's default leeway).
const CLOCK_SKEW_SECS: i64 = 60;

/// Claims of an ID token beyond the standard ones (the groups claim, a custom username claim):
/// kept whole so that the configured claim names can be read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OtherClaims {
    #[serde(flatten)]
    claims: serde_json::Map<String, serde_json::Value>,
}
impl AdditionalClaims for OtherClaims {}

type Tokens = StandardTokenResponse<
    IdTokenFields<
        OtherClaims,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;

/// The crate's client, typed for [`OtherClaims`], as made from discovered metadata.
type Client = openidconnect::Client<
    OtherClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    Tokens,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// A sign-in started and not finished: what the callback needs, kept in the browser (sealed).
#[derive(Debug, Serialize, Deserialize)]
pub struct Pending {
    /// The provider's name.
    pub provider: String,
    /// The `state` sent to the provider, which must come back unchanged (CSRF, RFC 6749 §10.12).
    pub state: String,
    /// The `nonce` sent, which the ID token must carry (replay, OpenID Connect Core §3.1.2.1).
    pub nonce: String,
    /// The PKCE code verifier (RFC 7636 §4.1).
    pub verifier: String,
    /// Unix seconds after which the callback is refused.
    pub expires_at: i64,
}

/// Who the provider says signed in.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The `sub` claim: the provider's stable id of the user.
    pub subject: String,
    /// The value of the username claim.
    pub username: String,
    /// The values of the groups claim (empty without one).
    pub groups: Vec<String>,
}

/// Why a sign-in through a provider failed. [`OidcError::reason`] is what the audit records.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider could not be asked (network, its metadata, its answer).
    #[error("the sign-in provider cannot be reached: {0}")]
    Unavailable(String),
    /// The provider refused the code (used, expired, wrong PKCE verifier, wrong client).
    #[error("the provider refused the sign-in code: {0}")]
    CodeRefused(String),
    /// The ID token failed a check; `reason` says which.
    #[error("the ID token was refused ({reason}): {detail}")]
    IdToken {
        reason: &'static str,
        detail: String,
    },
    /// The ID token lacks the username claim, or it is not a string.
    #[error("the ID token has no {0:?} claim (a string) to name the user")]
    NoUsername(String),
}

impl OidcError {
    /// A short, stable reason for the audit log.
    pub fn reason(&self) -> &'static str {
        match self {
            OidcError::Unavailable(_) => "provider_unavailable",
            OidcError::CodeRefused(_) => "code_refused",
            OidcError::IdToken { reason, .. } => reason,
            OidcError::NoUsername(_) => "username_claim_missing",
        }
    }
}

/// One provider users may sign in through.
pub struct Provider {
    pub settings: ProviderSettings,
    redirect: RedirectUrl,
    http: http::Http,
    /// Discovered metadata and when it was read.
    metadata: RwLock<(Instant, CoreProviderMetadata)>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.settings.name)
            .field("issuer", &self.settings.issuer)
            .finish_non_exhaustive()
    }
}

/// The providers that passed their start check, in the order configured.
#[derive(Debug, Default)]
pub struct Providers(Vec<Arc<Provider>>);

impl Providers {
    /// Discover and check each provider of `settings` ([`Provider::open`]). Errors: the first
    /// provider that failed and does not have `ON_ERROR=disable`, one line naming the setting.
    pub async fn open(settings: &OidcSettings) -> Result<Providers, String> {
        let mut providers = Vec::new();
        let public_url = settings.public_url.as_deref().unwrap_or_default();
        for provider in &settings.providers {
            match Provider::open(provider.clone(), public_url).await {
                Ok(opened) => {
                    tracing::info!(provider = %provider.name, issuer = %provider.issuer,
                        redirect_uri = %opened.redirect.as_str(), "OIDC sign-in is on");
                    providers.push(Arc::new(opened));
                }
                Err(e) if provider.disable_on_error => tracing::error!(
                    provider = %provider.name, error = %e,
                    "OIDC provider left out (ON_ERROR=disable): it failed its start check; \
                     local accounts and the other providers can still sign in"
                ),
                Err(e) => return Err(e),
            }
        }
        Ok(Providers(providers))
    }

    /// The provider named `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<Provider>> {
        self.0.iter().find(|p| p.settings.name == name)
    }

    /// Every provider, for the login page.
    pub fn all(&self) -> &[Arc<Provider>] {
        &self.0
    }
}

impl Provider {
    /// The setting `setting` of this provider, as its environment variable.
    fn var(&self, setting: &str) -> String {
        var(&self.settings.name, setting)
    }

    /// Discover `settings.issuer` and check the client: a token request with a code that cannot
    /// be valid must fail for the code (`invalid_grant`), not for the client (`invalid_client`:
    /// a wrong client id or secret), RFC 6749 §5.2. `public_url` is where browsers reach
    /// testum. Errors: one line naming the setting at fault.
    pub async fn open(settings: ProviderSettings, public_url: &str) -> Result<Provider, String> {
        let issuer_var = var(&settings.name, "ISSUER");
        let issuer = IssuerUrl::new(settings.issuer.clone())
            .map_err(|e| format!("{issuer_var}: {:?} is not a URL: {e}", settings.issuer))?;
        if !secure_or_loopback(issuer.url()) {
            return Err(format!(
                "{issuer_var}: {:?} must be https:// (plain http:// only to a loopback address)",
                settings.issuer
            ));
        }
        let http = http::client(settings.ca_file.as_deref())
            .map_err(|e| format!("{}: {e}", var(&settings.name, "CA_FILE")))?;
        let redirect = RedirectUrl::new(format!("{public_url}/ui/oidc/{}/callback", settings.name))
            .map_err(|e| format!("TESTUM_PUBLIC_URL: {e}"))?;
        let metadata = discover(&http, &issuer)
            .await
            .map_err(|e| format!("{issuer_var}: {e}"))?;
        let provider = Provider {
            settings,
            redirect,
            http,
            metadata: RwLock::new((Instant::now(), metadata)),
        };
        provider.check_client().await?;
        Ok(provider)
    }

    /// See [`Provider::open`].
    async fn check_client(&self) -> Result<(), String> {
        let metadata = self.metadata.read().await.1.clone();
        let Some(token_url) = metadata.token_endpoint() else {
            return Err(format!(
                "{}: the provider's discovery document names no token endpoint",
                self.var("ISSUER")
            ));
        };
        // RFC 6749 §2.3.1: id and secret are form-urlencoded before HTTP Basic encoding.
        let encode =
            |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let answer = self
            .http
            .0
            .post(token_url.as_str())
            .basic_auth(
                encode(&self.settings.client_id),
                Some(encode(self.settings.client_secret.expose())),
            )
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", "testum-start-check-not-a-code"),
                ("redirect_uri", self.redirect.as_str()),
                (
                    "code_verifier",
                    "testum-start-check-not-a-verifier-0000000000000000",
                ),
            ])
            .send()
            .await
            .map_err(|e| format!("{}: {}", self.var("ISSUER"), e.without_url()))?;
        let status = answer.status();
        let error = answer
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|body| body["error"].as_str().map(str::to_string))
            .unwrap_or_default();
        match error.as_str() {
            "invalid_grant" => Ok(()),
            "invalid_client" | "unauthorized_client" => Err(format!(
                "{}: the provider refused the client ({error}, HTTP {status}): check {} and the secret",
                self.var(self.settings.client_secret_setting),
                self.var("CLIENT_ID"),
            )),
            _ => {
                tracing::warn!(provider = %self.settings.name, %status, error = %error,
                    "the provider's answer to the start check of the client secret was not the \
                     expected invalid_grant; the secret is not known to be right");
                Ok(())
            }
        }
    }

    /// The crate's client over metadata `metadata`.
    fn client(&self, metadata: CoreProviderMetadata) -> Client {
        Client::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            Some(ClientSecret::new(
                self.settings.client_secret.expose().to_string(),
            )),
        )
        .set_redirect_uri(self.redirect.clone())
    }

    /// Metadata no older than [`METADATA_TTL`] (read again when older, or when `refresh`).
    async fn metadata(&self, refresh: bool) -> Result<CoreProviderMetadata, OidcError> {
        {
            let cached = self.metadata.read().await;
            if !refresh && cached.0.elapsed() < METADATA_TTL {
                return Ok(cached.1.clone());
            }
        }
        let fresh = discover(&self.http, self.metadata.read().await.1.issuer())
            .await
            .map_err(OidcError::Unavailable)?;
        *self.metadata.write().await = (Instant::now(), fresh.clone());
        Ok(fresh)
    }

    /// Start a sign-in: the provider's authorization URL to send the browser to, and what the
    /// callback will need ([`Pending`], valid `valid_secs`). Scopes: `openid` and the configured
    /// ones; PKCE with S256.
    pub async fn begin(&self, valid_secs: i64) -> Result<(url::Url, Pending), OidcError> {
        let client = self.client(self.metadata(false).await?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in &self.settings.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        Ok((
            url,
            Pending {
                provider: self.settings.name.clone(),
                state: state.secret().clone(),
                nonce: nonce.secret().clone(),
                verifier: verifier.secret().clone(),
                expires_at: chrono::Utc::now().timestamp() + valid_secs,
            },
        ))
    }

    /// Finish a sign-in: exchange `code` (with the PKCE verifier of `pending`) for tokens, check
    /// the ID token (signature, `iss`, `aud`, `exp` with [`CLOCK_SKEW_SECS`], `nonce`) and read
    /// the user from it. A signature by a key not in the cached key set reads the provider's
    /// keys again once (key rotation).
    pub async fn finish(&self, code: String, pending: &Pending) -> Result<Identity, OidcError> {
        let client = self.client(self.metadata(false).await?);
        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| OidcError::Unavailable(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                openidconnect::RequestTokenError::ServerResponse(answer) => {
                    OidcError::CodeRefused(answer.error().to_string())
                }
                other => OidcError::Unavailable(error_chain(&other)),
            })?;
        let id_token = tokens.id_token().ok_or_else(|| OidcError::IdToken {
            reason: "id_token_missing",
            detail: "the token answer has no ID token (is `openid` among the scopes?)".into(),
        })?;
        let nonce = Nonce::new(pending.nonce.clone());
        let verified = {
            let verifier = verifier(&client);
            id_token.claims(&verifier, &nonce).cloned()
        };
        let claims = match verified {
            Err(ClaimsVerificationError::SignatureVerification(_)) => {
                let client = self.client(self.metadata(true).await?);
                let verifier = verifier(&client);
                id_token.claims(&verifier, &nonce).cloned()
            }
            other => other,
        }
        .map_err(id_token_error)?;
        let subject = claims.subject().as_str().to_string();
        let all = serde_json::to_value(&claims).unwrap_or_default();
        let username = all
            .get(&self.settings.username_claim)
            .and_then(|v| v.as_str())
            .ok_or_else(|| OidcError::NoUsername(self.settings.username_claim.clone()))?
            .to_string();
        let groups = match &self.settings.groups_claim {
            None => Vec::new(),
            Some(claim) => match all.get(claim) {
                None | Some(serde_json::Value::Null) => Vec::new(),
                Some(serde_json::Value::String(one)) => vec![one.clone()],
                Some(serde_json::Value::Array(many)) => many
                    .iter()
                    .filter_map(|g| g.as_str().map(str::to_string))
                    .collect(),
                Some(_) => {
                    tracing::warn!(provider = %self.settings.name, %claim,
                        "the groups claim is neither a string nor a list; no groups taken");
                    Vec::new()
                }
            },
        };
        Ok(Identity {
            subject,
            username,
            groups,
        })
    }
}

/// The crate's ID token verifier for `client`, with [`CLOCK_SKEW_SECS`] allowed both ways: an
/// `exp` that passed less than that ago is accepted, an `iat` more than that ahead is refused
/// (a token minted by a clock far ahead would live on past its intended end).
fn verifier(client: &Client) -> openidconnect::core::CoreIdTokenVerifier<'_> {
    client
        .id_token_verifier()
        .set_time_fn(|| chrono::Utc::now() - chrono::Duration::seconds(CLOCK_SKEW_SECS))
        .set_issue_time_verifier_fn(|iat| {
            let latest = chrono::Utc::now() + chrono::Duration::seconds(CLOCK_SKEW_SECS);
            if iat > latest {
                Err(format!("issued in the future ({iat})"))
            } else {
                Ok(())
            }
        })
}

/// The environment variable of `setting` for provider `name`.
fn var(name: &str, setting: &str) -> String {
    format!(
        "TESTUM_OIDC_{}_{setting}",
        name.to_uppercase().replace('-', "_")
    )
}

/// Read the discovery document of `issuer` (and the key set it names).
async fn discover(http: &http::Http, issuer: &IssuerUrl) -> Result<CoreProviderMetadata, String> {
    CoreProviderMetadata::discover_async(issuer.clone(), http)
        .await
        .map_err(|e| {
            format!(
                "discovery of {} failed: {}",
                issuer.as_str(),
                error_chain(&e)
            )
        })
}

/// `https`, or `http` to a loopback address.
pub(crate) fn secure_or_loopback(url: &url::Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => false,
        },
        _ => false,
    }
}

/// The [`OidcError`] of an ID token that failed a check.
fn id_token_error(e: ClaimsVerificationError) -> OidcError {
    let reason = match &e {
        // The crate reports a refused `iat` as Expired, with our message.
        ClaimsVerificationError::Expired(why) if why.contains("issued in the future") => {
            "id_token_from_the_future"
        }
        ClaimsVerificationError::Expired(_) => "id_token_expired",
        ClaimsVerificationError::InvalidNonce(_) => "nonce_mismatch",
        ClaimsVerificationError::InvalidIssuer(_) => "issuer_mismatch",
        ClaimsVerificationError::InvalidAudience(_) => "audience_mismatch",
        ClaimsVerificationError::SignatureVerification(_) => "signature_invalid",

        _ => "id_token_invalid",
    };
    OidcError::IdToken {
        reason,
        detail: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_loopback() {
        for (url, ok) in [
            ("https://login.example.com", true),
            ("http://127.0.0.1:9000", true),
            ("http://[::1]:9000", true),
            ("http://localhost:9000", true),
            ("http://login.example.com", false),
            ("http://10.0.0.1", false),
            ("ftp://127.0.0.1", false),
        ] {
            assert_eq!(
                secure_or_loopback(&url::Url::parse(url).unwrap()),
                ok,
                "{url}"
            );
        }
    }

    #[test]
    fn variables_are_named_after_the_provider() {
        assert_eq!(var("okta-eu", "ISSUER"), "TESTUM_OIDC_OKTA_EU_ISSUER");
    }
}
