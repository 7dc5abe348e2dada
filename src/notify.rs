//! Webhook notifications: an endpoint's sealed URL and secret, the HMAC signature of a body, and
//! the sender that every worker process runs.
//!
//! Events are queued in the database by [`crate::store::Store::notify_event`] (one delivery per
//! subscribed endpoint, the exact body fixed at that moment). Each worker's sender claims due
//! deliveries with a lease ([`crate::store::Store::claim_deliveries`]: one process sends each
//! attempt, one request at a time per endpoint, so a hanging endpoint holds one slot and never
//! delays the others), sends up to [`NotifyConfig::concurrency`] at once, each bounded by a 10 s
//! timeout,
//! without a database connection held meanwhile, and records every attempt. A delivery that does
//! not get a 2xx is tried again after `retry_base × 1, 3, 12, 60, 180, 360, 720` (10 s, 30 s,
//! 2 min, 10 min, 30 min, 1 h, 2 h by default) and given up after [`MAX_ATTEMPTS`]. Redirects are
//! not followed (a 3xx counts as a failed attempt). Tasks never wait for any of this.
//!
//! Delivered and given-up deliveries are deleted [`KEEP_DELIVERIES_DAYS`] days after they ended,
//! by whichever sender prunes first (once an hour each).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use hmac::Mac as _;
use reqwest::Url;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::crypto::{CryptoError, MasterKey};
use crate::secret::Secret;
use crate::store::{AttemptOutcome, ClaimedDelivery, Store};

/// Attempts made at most per delivery.
pub const MAX_ATTEMPTS: u32 = 8;
/// The wait before attempt `n + 1` after failed attempt `n` (1-based), in units of the retry base.
const BACKOFF: [u32; 7] = [1, 3, 12, 60, 180, 360, 720];
/// Days a delivered or given-up delivery is kept.
pub const KEEP_DELIVERIES_DAYS: i64 = 30;
/// How often a sender prunes old deliveries.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// Bytes of an answer's body recorded per attempt.
pub const RESPONSE_KEPT: usize = 1024;

/// Sender settings.
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// The first retry's delay; later ones are multiples of it (see the module documentation).
    pub retry_base: Duration,
    /// Requests in flight at most per process.
    pub concurrency: usize,
    /// Timeout of one request, connection to end of body.
    pub timeout: Duration,
    /// How often the queue is looked at.
    pub poll: Duration,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            retry_base: Duration::from_secs(10),
            concurrency: 8,
            timeout: Duration::from_secs(10),
            poll: Duration::from_secs(1),
        }
    }
}

/// Associated data binding a sealed endpoint target to its row.
pub(crate) fn aad(endpoint: Uuid) -> Vec<u8> {
    format!("notification:{endpoint}:endpoint").into_bytes()
}

/// Where an endpoint's deliveries go, opened from its sealed form.
#[derive(Debug, Deserialize)]
pub struct Target {
    /// The whole URL (may carry a token in its path or query).
    pub url: Secret,
    /// The HMAC key; `None`: deliveries are not signed.
    #[serde(default)]
    pub secret: Option<Secret>,
}

/// The sealed JSON of a [`Target`].
#[derive(Serialize)]
struct Stored<'a> {
    url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<&'a str>,
}

/// Seal `target` for endpoint `id`.
pub fn seal_target(key: &MasterKey, id: Uuid, target: &Target) -> Vec<u8> {
    let stored = Stored {
        url: target.url.expose(),
        secret: target.secret.as_ref().map(Secret::expose),
    };
    let json = Zeroizing::new(serde_json::to_vec(&stored).unwrap_or_default());
    key.seal(&json, &aad(id))
}

/// Open the sealed target of endpoint `id`.
pub fn open_target(key: &MasterKey, id: Uuid, sealed: &[u8]) -> Result<Target, CryptoError> {
    let json = key.open(sealed, &aad(id))?;
    serde_json::from_slice(&json).map_err(|_| CryptoError::Damaged)
}

/// Check a webhook URL: absolute `http` or `https` with a host, at most 2000 characters. Returns
/// its origin, `scheme://host[:port]` (the only part shown).
pub fn parse_url(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.len() > 2000 {
        return Err("must be at most 2000 characters".into());
    }
    let url = Url::parse(text).map_err(|e| format!("is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http or https URL".into());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must name a host".into());
    }
    Ok(url.origin().ascii_serialization())
}

/// `sha256=<hex HMAC-SHA-256 of body under secret>`, the `X-Testum-Signature` header.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = crate::crypto::hmac_sha256(secret.as_bytes());
    mac.update(body);
    format!(
        "sha256={}",
        crate::crypto::hex(&mac.finalize().into_bytes())
    )
}

/// When to try again after failed attempt `attempt` (1-based) made at `at`; `None`: give up.
fn retry_at(
    attempt: u32,
    at: chrono::DateTime<Utc>,
    base: Duration,
) -> Option<chrono::DateTime<Utc>> {
    if attempt >= MAX_ATTEMPTS {
        return None;
    }
    let factor = BACKOFF[(attempt as usize - 1).min(BACKOFF.len() - 1)];
    let wait = chrono::Duration::from_std(base * factor).ok()?;
    Some(at + wait)
}

/// Run the sender of this process until the returned task is aborted: claim due deliveries as
/// `owner`, send them (bounded), record each attempt, and prune old deliveries once an hour.
pub fn spawn_sender(
    store: Store,
    master_key: MasterKey,
    owner: String,
    config: NotifyConfig,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(sender(store, master_key, owner, config))
}

async fn sender(store: Store, master_key: MasterKey, owner: String, config: NotifyConfig) {
    let client = match reqwest::Client::builder()
        .timeout(config.timeout)
        .connect_timeout(config.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("testum/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook HTTP client; no notifications are sent");
            return;
        }
    };
    let lease = config.timeout + Duration::from_secs(50);
    let slots = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let mut tick = tokio::time::interval(config.poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pruned: Option<Instant> = None;
    let shared = Arc::new((store, master_key, owner, client, config.retry_base));
    loop {
        tick.tick().await;
        let (store, _, owner, _, _) = &*shared;
        if pruned.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
            pruned = Some(Instant::now());
            let before = Utc::now() - chrono::Duration::days(KEEP_DELIVERIES_DAYS);
            match store.prune_deliveries(before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deliveries = n, "pruned old webhook deliveries"),
                Err(e) => tracing::error!(error = %e, "pruning webhook deliveries failed"),
            }
        }
        let free = slots.available_permits() as u32;
        let claimed = match store.claim_deliveries(owner, free, lease).await {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::error!(error = %e, "claiming webhook deliveries failed");
                continue;
            }
        };
        for delivery in claimed {
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                break;
            };
            let shared = shared.clone();
            tokio::spawn(async move {
                let (store, key, owner, client, base) = &*shared;
                let id = delivery.id;
                let outcome = attempt(client, key, &delivery, *base).await;
                if let Err(e) = store.record_attempt(owner, id, &outcome).await {
                    tracing::error!(delivery = %id, error = %e, "recording a webhook attempt failed");
                }
                drop(permit);
            });
        }
    }
}

/// Make one attempt at `delivery`; never holds a database connection.
async fn attempt(
    client: &reqwest::Client,
    key: &MasterKey,
    delivery: &ClaimedDelivery,
    base: Duration,
) -> AttemptOutcome {
    let at = Utc::now();
    let started = Instant::now();
    let number = delivery.attempts + 1;
    let mut outcome = AttemptOutcome {
        at,
        duration_ms: 0,
        http_status: None,
        error: None,
        response: None,
        retry_at: None,
    };
    let target = match open_target(key, delivery.endpoint_id, &delivery.sealed) {
        Ok(target) => target,
        Err(e) => {
            // Retrying cannot help: the master key does not open it.
            outcome.error = Some(format!("cannot open the endpoint's sealed URL: {e}"));
            return outcome;
        }
    };
    let mut request = client
        .post(target.url.expose())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Testum-Event", &delivery.event)
        .header("X-Testum-Delivery", delivery.id.to_string());
    if let Some(secret) = &target.secret {
        request = request.header(
            "X-Testum-Signature",
            signature(secret.expose(), delivery.body.as_bytes()),
        );
    }
    match request.body(delivery.body.clone()).send().await {
        Ok(mut response) => {
            let status = response.status();
            outcome.http_status = Some(status.as_u16());
            let mut kept = Vec::new();
            while kept.len() < RESPONSE_KEPT {
                match response.chunk().await {
                    Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
                    Ok(None) => break,
                    Err(e) => {
                        outcome.error = Some(describe(&e));
                        break;
                    }
                }
            }
            kept.truncate(RESPONSE_KEPT);
            outcome.response = Some(String::from_utf8_lossy(&kept).into_owned());
            if !status.is_success() {
                let what = if status.is_redirection() {
                    "redirect not followed"
                } else {
                    "not a 2xx answer"
                };
                outcome
                    .error
                    .get_or_insert_with(|| format!("HTTP {status}: {what}"));
            }
        }
        Err(e) => outcome.error = Some(describe(&e)),
    }
    outcome.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let delivered = outcome.http_status.is_some_and(|s| (200..300).contains(&s));
    if !delivered {
        outcome.retry_at = retry_at(number, Utc::now(), base);
        tracing::warn!(
            delivery = %delivery.id, endpoint = %delivery.endpoint_id,
            origin = %delivery.url_origin, attempt = number,
            error = outcome.error.as_deref().unwrap_or(""),
            gave_up = outcome.retry_at.is_none(),
            "webhook delivery attempt failed"
        );
    }
    outcome
}

/// A request error with its causes, never the URL (which may hold a token).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut text = kind.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_other_than_http_are_refused_and_only_the_origin_is_kept() {
        assert_eq!(
            parse_url("https://hooks.slack.com/services/T0/B0/secret").unwrap(),
            "https://hooks.slack.com"
        );
        assert_eq!(
            parse_url("http://127.0.0.1:8080/hook?token=x").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(parse_url("ftp://example.com/x").is_err());
        assert!(parse_url("file:///etc/passwd").is_err());
        assert!(parse_url("not a url").is_err());
    }

    #[test]
    fn signature_is_hex_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn retries_back_off_then_give_up() {
        let at = Utc::now();
        let base = Duration::from_secs(10);
        assert_eq!(
            retry_at(1, at, base),
            Some(at + chrono::Duration::seconds(10))
        );
        assert_eq!(
            retry_at(2, at, base),
            Some(at + chrono::Duration::seconds(30))
        );
        assert_eq!(
            retry_at(3, at, base),
            Some(at + chrono::Duration::seconds(120))
        );
        assert_eq!(retry_at(7, at, base), Some(at + chrono::Duration::hours(2)));
        assert_eq!(retry_at(MAX_ATTEMPTS, at, base), None);
    }

    #[test]
    fn a_target_opens_only_for_its_endpoint() {
        let key = MasterKey::generate();
        let id = Uuid::new_v4();
        let sealed = seal_target(
            &key,
            id,
            &Target {
                url: Secret::new("https://x.test/t0k3n"),
                secret: Some(Secret::new("s")),
            },
        );
        let opened = open_target(&key, id, &sealed).unwrap();
        assert_eq!(opened.url.expose(), "https://x.test/t0k3n");
        assert!(open_target(&key, Uuid::new_v4(), &sealed).is_err());
    }
}
