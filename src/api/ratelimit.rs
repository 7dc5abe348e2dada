//! Brute-force limits on `POST /api/auth/login` and `POST /api/auth/refresh`.
//!
//! Two GCRA limiters (the `governor` crate): per client IP address on both routes (a
//! `tower_governor` layer keyed by the TCP peer address, not by forwarding headers a client could
//! forge), and per username inside login (so spreading guesses over many addresses does not
//! help). Over a limit the answer is 429 problem+json with `Retry-After` in whole seconds, at
//! once: the server never sleeps on a request, and other routes are not affected. The limits
//! live in memory, so each process counts on its own.

use std::num::NonZeroU32;
use std::time::Duration;

use axum::body::Body;
use axum::response::IntoResponse as _;
use governor::clock::{Clock as _, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::{DefaultKeyedRateLimiter, Quota};
use tower_governor::GovernorError;
use tower_governor::GovernorLayer;
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::key_extractor::PeerIpKeyExtractor;

use super::error::ApiError;

const DEFAULT_IP_PER_MINUTE: u32 = 10;
const DEFAULT_IP_BURST: u32 = 10;
const DEFAULT_USERNAME_PER_MINUTE: u32 = 5;

/// Most usernames the per-username limiter tracks before it forgets those back at full quota.
const MAX_TRACKED_USERNAMES: usize = 10_000;

/// Rate-limit settings of `testum serve` (per process).
#[derive(Debug, Clone, clap::Args)]
pub struct RateLimits {
    /// Login and refresh requests per minute from one client IP address (sustained rate).
    #[arg(long, env = "TESTUM_AUTH_RATE_PER_IP_PER_MIN", default_value_t = DEFAULT_IP_PER_MINUTE,
          value_parser = clap::value_parser!(u32).range(1..=60_000))]
    pub auth_rate_per_ip_per_min: u32,

    /// Login and refresh requests one client IP address may send in a burst before the
    /// per-minute rate applies.
    #[arg(long, env = "TESTUM_AUTH_RATE_PER_IP_BURST", default_value_t = DEFAULT_IP_BURST,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub auth_rate_per_ip_burst: u32,

    /// Login attempts per minute for one username, from any address (also the burst).
    #[arg(long, env = "TESTUM_LOGIN_RATE_PER_USER_PER_MIN",
          default_value_t = DEFAULT_USERNAME_PER_MINUTE,
          value_parser = clap::value_parser!(u32).range(1..=60_000))]
    pub login_rate_per_user_per_min: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            auth_rate_per_ip_per_min: DEFAULT_IP_PER_MINUTE,
            auth_rate_per_ip_burst: DEFAULT_IP_BURST,
            login_rate_per_user_per_min: DEFAULT_USERNAME_PER_MINUTE,
        }
    }
}

/// One request's worth of quota every `60 s / per_minute`.
fn replenish_period(per_minute: u32) -> Duration {
    Duration::from_secs(60) / per_minute.max(1)
}

/// The 429 answer: `Retry-After` is at least one second (a fraction rounds up).
fn too_many(wait: Duration) -> ApiError {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::too_many_requests(secs.max(1))
}

/// The per-IP layer for the login and refresh routes.
pub fn ip_layer(limits: &RateLimits) -> GovernorLayer<PeerIpKeyExtractor, NoOpMiddleware, Body> {
    let config = GovernorConfigBuilder::default()
        .period(replenish_period(limits.auth_rate_per_ip_per_min))
        .burst_size(limits.auth_rate_per_ip_burst.max(1))
        .finish();
    // `finish` refuses only a zero period or burst, which the settings' ranges exclude.
    let config = config.unwrap_or_default();
    GovernorLayer::new(config).error_handler(|error| {
        match error {
            GovernorError::TooManyRequests { wait_time, .. } => {
                too_many(Duration::from_secs(wait_time))
            }
            // The server is always run with the peer address; without it, say so in the log.
            GovernorError::UnableToExtractKey | GovernorError::Other { .. } => {
                ApiError::internal(format!("rate limiter: {error}"))
            }
        }
        .into_response()
    })
}

/// Login attempts per username.
pub struct UsernameLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
}

impl UsernameLimiter {
    /// A limiter allowing `limits.login_rate_per_user_per_min` attempts a minute per username.
    pub fn new(limits: &RateLimits) -> UsernameLimiter {
        let per_minute =
            NonZeroU32::new(limits.login_rate_per_user_per_min).unwrap_or(NonZeroU32::MIN);
        UsernameLimiter {
            limiter: DefaultKeyedRateLimiter::keyed(Quota::per_minute(per_minute)),
        }
    }

    /// Count one attempt for `username` (compared case-insensitively); a 429 with `Retry-After`
    /// when it is over the limit.
    pub fn check(&self, username: &str) -> Result<(), ApiError> {
        if self.limiter.len() > MAX_TRACKED_USERNAMES {
            self.limiter.retain_recent();
        }
        let key: String = username.chars().take(64).collect::<String>().to_lowercase();
        self.limiter
            .check_key(&key)
            .map_err(|not_until| too_many(not_until.wait_time_from(DefaultClock::default().now())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_limited_apart_and_case_insensitively() {
        let limiter = UsernameLimiter::new(&RateLimits {
            login_rate_per_user_per_min: 2,
            ..RateLimits::default()
        });
        assert!(limiter.check("alice").is_ok());
        assert!(limiter.check("Alice").is_ok());
        let refused = limiter.check("ALICE").unwrap_err();
        assert_eq!(refused.status, axum::http::StatusCode::TOO_MANY_REQUESTS);
        assert!(refused.retry_after.is_some_and(|s| (1..=30).contains(&s)));
        assert!(limiter.check("bob").is_ok());
    }
}
