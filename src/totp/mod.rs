//! Two-factor sign-in for local accounts: time-based one-time passwords (TOTP, RFC 6238) as
//! authenticator apps compute them, single-use recovery codes ([`recovery`]), and the policy that
//! says who must use them ([`RequireTotpFor`]).
//!
//! The parameters are the ones every authenticator app understands (the Google Authenticator key
//! URI format): HMAC-SHA-1, [`DIGITS`] digits, [`STEP_SECS`]-second time steps counted from the
//! Unix epoch, and the codes of the step before and the step after also accepted
//! ([`SKEW_STEPS`], clock skew and typing time; RFC 6238 §5.2 recommends at most one step). A
//! secret is [`SECRET_BYTES`] random bytes (160 bits, as RFC 4226 §4 recommends), shown once in
//! base32 inside an `otpauth://totp/testum:<username>?secret=...&issuer=testum` URI and its QR
//! code ([`enrolment`]), and stored sealed under the master key with its row as associated data
//! ([`seal`], [`open`]).
//!
//! Everything here is pure: [`check`] takes the time (the tests' clock) and the last time step
//! already accepted, so a code is accepted once (RFC 6238 §5.2); the store makes that acceptance
//! atomic. Codes are computed by the `totp-rs` crate, the QR code by `qrcode` (SVG only).

pub mod recovery;

use rand::RngCore as _;
use totp_rs::{Algorithm, Builder, Totp};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::crypto::{CryptoError, MasterKey};
use crate::role::Role;
use crate::secret::Secret;

/// Digits of a code.
pub const DIGITS: usize = 6;
/// Seconds of one time step.
pub const STEP_SECS: u64 = 30;
/// Steps before and after the current one whose codes are accepted too.
pub const SKEW_STEPS: u16 = 1;
/// The issuer named in the otpauth URI (what the authenticator app shows above the account).
pub const ISSUER: &str = "testum";
/// Bytes of a new secret.
pub const SECRET_BYTES: usize = 20;

/// Who must sign in with a second factor (`TESTUM_REQUIRE_TOTP_FOR`), besides the users an admin
/// marked with `require_totp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum RequireTotpFor {
    /// Only the users marked `require_totp`.
    #[default]
    None,
    /// Every user holding the admin role (fleet-wide or on some platforms, own or through a
    /// group), and the users marked `require_totp`.
    Admin,
    /// Every local account.
    All,
}

impl RequireTotpFor {
    /// Whether a user whose strongest role (fleet-wide or on some platforms) is `strongest`, and
    /// whose own flag is `user_flag`, must use a second factor.
    pub fn requires(self, strongest: Option<Role>, user_flag: bool) -> bool {
        user_flag
            || match self {
                RequireTotpFor::None => false,
                RequireTotpFor::Admin => strongest == Some(Role::Admin),
                RequireTotpFor::All => true,
            }
    }
}

/// A TOTP shared secret (raw bytes); `Debug` does not show it.
#[derive(Clone)]
pub struct TotpSecret(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(<secret>)")
    }
}

impl TotpSecret {
    /// A new random secret of [`SECRET_BYTES`] bytes.
    pub fn generate() -> TotpSecret {
        let mut bytes = Zeroizing::new(vec![0u8; SECRET_BYTES]);
        rand::rng().fill_bytes(&mut bytes);
        TotpSecret(bytes)
    }

    /// The secret as the authenticator app is given it: RFC 4648 base32, no padding.
    pub fn to_base32(&self) -> Secret {
        Secret::new(totp_rs::Secret::from(self.0.to_vec()).to_base32())
    }

    /// The code of the time step holding `unix_time` (for tests and for clients that compute
    /// codes themselves).
    pub fn code_at(&self, unix_time: u64) -> String {
        totp(self, "").generate(unix_time).to_string()
    }
}

/// The TOTP of `secret` for `account`, with the fixed parameters of this module.
fn totp(secret: &TotpSecret, account: &str) -> Totp {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS as u8)
        .with_skew(SKEW_STEPS)
        .with_step_duration(STEP_SECS)
        .with_secret(secret.0.to_vec())
        .with_account_name(account)
        .with_issuer(Some(ISSUER))
        // The parameters are RFC values and the secret is 20 bytes, so the checks `build` makes
        // hold (the unit tests build through `build` to show it).
        .build_noncompliant()
}

/// What an authenticator app needs to add an account: the `otpauth://` URI, the same secret as
/// text to type by hand, and the URI as a QR code (an SVG document).
#[derive(Debug)]
pub struct Enrolment {
    pub uri: Secret,
    pub secret: Secret,
    pub qr_svg: Secret,
}

/// The enrolment material of `secret` for `username` (which may not contain `:`, as no username
/// can). Errors: a username with `:` or one too long for a QR code, as text.
pub fn enrolment(secret: &TotpSecret, username: &str) -> Result<Enrolment, String> {
    let uri = totp(secret, username)
        .to_url()
        .map_err(|e| format!("cannot make the otpauth URI: {e}"))?;
    let qr =
        qrcode::QrCode::new(uri.as_bytes()).map_err(|e| format!("cannot make the QR code: {e}"))?;
    let svg = qr
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build();
    Ok(Enrolment {
        uri: Secret::new(uri),
        secret: secret.to_base32(),
        qr_svg: Secret::new(svg),
    })
}

/// The outcome of checking a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The code of time step `step` (Unix time / [`STEP_SECS`]), later than the last step
    /// accepted: accept it, and record `step` as the last one.
    Accepted { step: u64 },
    /// The code of a step already accepted (or of an earlier one): refused, RFC 6238 §5.2.
    Replayed,
    /// [`DIGITS`] digits, but no code of the steps around `unix_time`.
    Wrong,
    /// Not [`DIGITS`] ASCII digits.
    Malformed,
}

/// Check `code` against `secret` at `unix_time` (seconds), given the last step accepted for this
/// secret (`None` before the first).
pub fn check(secret: &TotpSecret, code: &str, unix_time: u64, last_step: Option<u64>) -> Check {
    if !is_code(code) {
        return Check::Malformed;
    }
    match totp(secret, "").check(code, unix_time) {
        None => Check::Wrong,
        Some(step) if last_step.is_some_and(|last| step <= last) => Check::Replayed,
        Some(step) => Check::Accepted { step },
    }
}

/// Whether `text` has the shape of a code: exactly [`DIGITS`] ASCII digits.
pub fn is_code(text: &str) -> bool {
    text.len() == DIGITS && text.bytes().all(|b| b.is_ascii_digit())
}

/// A second factor as typed at sign-in: a code of the authenticator app, or a recovery code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecondFactor {
    /// [`DIGITS`] digits (spaces typed between them are dropped: apps show `123 456`).
    Code(String),
    /// A recovery code, normalised by [`recovery::normalize`].
    Recovery(Secret),
}

impl SecondFactor {
    /// Read what was typed; `None` when it is neither a code nor a recovery code.
    pub fn parse(text: &str) -> Option<SecondFactor> {
        let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        if is_code(&digits) {
            return Some(SecondFactor::Code(digits));
        }
        recovery::normalize(text).map(SecondFactor::Recovery)
    }
}

/// Associated data binding a sealed TOTP secret to its row and its user.
pub(crate) fn aad(row: Uuid, user: Uuid) -> Vec<u8> {
    format!("totp:{row}:user:{user}").into_bytes()
}

/// Seal `secret` for TOTP row `row` of user `user`.
pub fn seal(key: &MasterKey, row: Uuid, user: Uuid, secret: &TotpSecret) -> Vec<u8> {
    key.seal(&secret.0, &aad(row, user))
}

/// Open the sealed TOTP secret of row `row` of user `user`.
pub fn open(
    key: &MasterKey,
    row: Uuid,
    user: Uuid,
    sealed: &[u8],
) -> Result<TotpSecret, CryptoError> {
    let bytes = key.open(sealed, &aad(row, user))?;
    Ok(TotpSecret(Zeroizing::new(bytes.to_vec())))
}

/// The current Unix time in whole seconds (0 before the epoch).
pub fn now() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0)
}

#[cfg(test)]
mod tests;
