//! The options of one assignment as a typed JSON object (`{"from": "10.0.0.0/8", "no-pty": true}`),
//! validated with sshd's rules and rendered as the options field written in front of the key.
//!
//! The JSON keys are sshd's own option names (sshd(8) "AUTHORIZED_KEYS FILE FORMAT"). Values are
//! checked as sshd checks them when it reads the line ([`super::parse_options`] and
//! [`super::render_option`] hold the grammar and its value checks); a few checks sshd makes only
//! at login time are made here too, so an option that would silently lock the key out is refused
//! up front: a `from` list with an empty entry or a malformed CIDR (sshd then denies every
//! source), an `expiry-time` that is not a calendar date, `principals` without `cert-authority`.
//!
//! [`KeyOptions::render`] writes a canonical field: `restrict` first (sshd applies options left to
//! right, so `restrict,pty` allows a pty while `pty,restrict` would not), then `cert-authority`,
//! the other flags, and the valued options, each value in double quotes with `"` written as `\"`
//! (commas, spaces and other backslashes are literal inside quotes). Every rendered field is
//! parsed back with [`super::parse_options`] and must give the same object, so what sshd reads is
//! exactly what was asked for. [`KeyOptions::parse`] turns a stored field back into the object.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::options::{KeyOption, OptionsError, parse_options, render_option};

fn is_false(value: &bool) -> bool {
    !*value
}

/// authorized_keys options of one assignment (one key on one platform). Every member is
/// optional; flags are `true` or left out (`false` is the same as leaving it out). An empty object
/// means no options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyOptions {
    /// `restrict`: disable every forwarding, the pty and `~/.ssh/rc`; the flags below re-enable
    /// single features (written after `restrict`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub restrict: bool,
    /// `cert-authority`: the key is a CA that signs user certificates.
    #[serde(rename = "cert-authority", default, skip_serializing_if = "is_false")]
    pub cert_authority: bool,
    /// `pty`: allow a pty (after `restrict`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub pty: bool,
    /// `no-pty`: refuse a pty.
    #[serde(rename = "no-pty", default, skip_serializing_if = "is_false")]
    pub no_pty: bool,
    /// `port-forwarding`: allow port forwarding (after `restrict`).
    #[serde(rename = "port-forwarding", default, skip_serializing_if = "is_false")]
    pub port_forwarding: bool,
    /// `no-port-forwarding`: refuse port forwarding.
    #[serde(
        rename = "no-port-forwarding",
        default,
        skip_serializing_if = "is_false"
    )]
    pub no_port_forwarding: bool,
    /// `agent-forwarding`: allow agent forwarding (after `restrict`).
    #[serde(rename = "agent-forwarding", default, skip_serializing_if = "is_false")]
    pub agent_forwarding: bool,
    /// `no-agent-forwarding`: refuse agent forwarding.
    #[serde(
        rename = "no-agent-forwarding",
        default,
        skip_serializing_if = "is_false"
    )]
    pub no_agent_forwarding: bool,
    /// `X11-forwarding`: allow X11 forwarding (after `restrict`).
    #[serde(rename = "X11-forwarding", default, skip_serializing_if = "is_false")]
    pub x11_forwarding: bool,
    /// `no-X11-forwarding`: refuse X11 forwarding.
    #[serde(
        rename = "no-X11-forwarding",
        default,
        skip_serializing_if = "is_false"
    )]
    pub no_x11_forwarding: bool,
    /// `user-rc`: run `~/.ssh/rc` (after `restrict`).
    #[serde(rename = "user-rc", default, skip_serializing_if = "is_false")]
    pub user_rc: bool,
    /// `no-user-rc`: do not run `~/.ssh/rc`.
    #[serde(rename = "no-user-rc", default, skip_serializing_if = "is_false")]
    pub no_user_rc: bool,
    /// `no-touch-required`: a FIDO key need not be touched.
    #[serde(
        rename = "no-touch-required",
        default,
        skip_serializing_if = "is_false"
    )]
    pub no_touch_required: bool,
    /// `verify-required`: a FIDO key must verify the user (PIN or biometric).
    #[serde(rename = "verify-required", default, skip_serializing_if = "is_false")]
    pub verify_required: bool,
    /// `principals="a,b"`: principals accepted in certificates (only with `cert-authority`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principals: Option<String>,
    /// `from="pattern-list"`: source addresses or host names allowed to use the key; patterns,
    /// `!` negations and CIDR blocks, comma-separated (e.g. `10.0.0.0/8,!10.0.0.5`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// `expiry-time="YYYYMMDD[HHMM[SS]][Z]"`: the key is refused after this time (local time of
    /// the host, UTC with `Z`).
    #[serde(
        rename = "expiry-time",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub expiry_time: Option<String>,
    /// `command="..."`: the command run whatever the client asks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// `environment="NAME=value"`, one per entry (sshd uses them only with
    /// `PermitUserEnvironment`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environment: Vec<String>,
    /// `permitopen="host:port"`, one per entry: the only local forwards allowed (`[v6]:port`,
    /// port `*` for any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permitopen: Vec<String>,
    /// `permitlisten="[host:]port"`, one per entry: the only remote forwards allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permitlisten: Vec<String>,
    /// `tunnel="n"`: force this tun device (`any` or a number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<String>,
}

/// A value of [`KeyOptions`] that sshd would refuse (or that would lock the key out).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{option}: {message}")]
pub struct KeyOptionsError {
    /// The option as named in the JSON object, with an index for list members
    /// (`from`, `environment[1]`).
    pub option: String,
    /// What is wrong; never echoes the value.
    pub message: String,
}

fn error(option: impl Into<String>, message: impl Into<String>) -> KeyOptionsError {
    KeyOptionsError {
        option: option.into(),
        message: message.into(),
    }
}

/// The flags in the order [`KeyOptions::render`] writes them, with sshd's spelling; each pair of
/// an allowing flag and its `no-` form appears together.
const FLAG_NAMES: &[&str] = &[
    "restrict",
    "cert-authority",
    "pty",
    "no-pty",
    "port-forwarding",
    "no-port-forwarding",
    "agent-forwarding",
    "no-agent-forwarding",
    "X11-forwarding",
    "no-X11-forwarding",
    "user-rc",
    "no-user-rc",
    "no-touch-required",
    "verify-required",
];

impl KeyOptions {
    /// Whether no option is set (such an assignment is written as the bare key).
    pub fn is_empty(&self) -> bool {
        *self == KeyOptions::default()
    }

    /// The flag named `name` (sshd's spelling, any case), if it is one.
    fn flag_mut(&mut self, name: &str) -> Option<&mut bool> {
        Some(match name.to_ascii_lowercase().as_str() {
            "restrict" => &mut self.restrict,
            "cert-authority" => &mut self.cert_authority,
            "pty" => &mut self.pty,
            "no-pty" => &mut self.no_pty,
            "port-forwarding" => &mut self.port_forwarding,
            "no-port-forwarding" => &mut self.no_port_forwarding,
            "agent-forwarding" => &mut self.agent_forwarding,
            "no-agent-forwarding" => &mut self.no_agent_forwarding,
            "x11-forwarding" => &mut self.x11_forwarding,
            "no-x11-forwarding" => &mut self.no_x11_forwarding,
            "user-rc" => &mut self.user_rc,
            "no-user-rc" => &mut self.no_user_rc,
            "no-touch-required" => &mut self.no_touch_required,
            "verify-required" => &mut self.verify_required,
            _ => return None,
        })
    }

    /// Whether the flag `name` (one of [`FLAG_NAMES`]) is set.
    fn flag(&self, name: &str) -> bool {
        self.clone().flag_mut(name).is_some_and(|set| *set)
    }

    /// The valued options as `(name, json name, value)`, in render order.
    fn values(&self) -> Vec<(&'static str, String, &str)> {
        let single = [
            ("principals", &self.principals),
            ("from", &self.from),
            ("expiry-time", &self.expiry_time),
            ("command", &self.command),
            ("tunnel", &self.tunnel),
        ];
        let lists = [
            ("environment", &self.environment),
            ("permitopen", &self.permitopen),
            ("permitlisten", &self.permitlisten),
        ];
        let mut out = Vec::new();
        for (name, value) in single {
            if let Some(value) = value {
                out.push((name, name.to_string(), value.as_str()));
            }
        }
        for (name, list) in lists {
            for (i, value) in list.iter().enumerate() {
                out.push((name, format!("{name}[{i}]"), value.as_str()));
            }
        }
        out
    }

    /// Check every value with sshd's rules and render the options field (without the key), or
    /// `None` when no option is set. The field parses back ([`KeyOptions::parse`]) to `self`.
    ///
    /// # Errors
    /// The first [`KeyOptionsError`], naming the option: a control character (newline, NUL, ...)
    /// in a value; an empty value; a value sshd refuses (`expiry-time` not
    /// `YYYYMMDD[HHMM[SS]][Z]` or not a date, `environment` not `NAME=value`, `permitopen` not
    /// `host:port`, `permitlisten` not `[host:]port`, `tunnel` not `any` or a number, a value
    /// ending in a backslash); a `from` entry that is empty or a malformed CIDR block;
    /// `principals` without `cert-authority`; a flag together with its `no-` form.
    pub fn render(&self) -> Result<Option<String>, KeyOptionsError> {
        if self.is_empty() {
            return Ok(None);
        }
        let mut items = Vec::new();
        for name in FLAG_NAMES.iter().filter(|name| self.flag(name)) {
            if let Some(allowing) = name.strip_prefix("no-")
                && self.flag(allowing)
            {
                return Err(error(
                    *name,
                    format!("cannot be given together with {allowing}"),
                ));
            }
            items.push((*name).to_string());
        }
        if self.principals.is_some() && !self.cert_authority {
            return Err(error("principals", "is only allowed with cert-authority"));
        }
        for (name, field, value) in self.values() {
            if value.chars().any(char::is_control) {
                return Err(error(
                    field,
                    "must not contain a newline, NUL, tab or other control character",
                ));
            }
            if value.is_empty() {
                return Err(error(field, "must not be empty (leave the option out)"));
            }
            match name {
                "from" => check_from(value).map_err(|m| error(&field, m))?,
                "expiry-time" => check_expiry_date(value).map_err(|m| error(&field, m))?,
                _ => {}
            }
            items.push(render_option(name, Some(value)).map_err(|e| option_error(&field, e))?);
        }
        let field = items.join(",");
        match KeyOptions::parse(&field) {
            Ok(back) if back == *self => Ok(Some(field)),
            _ => Err(error(
                "options",
                "cannot be written so that sshd reads back the same values",
            )),
        }
    }

    /// The object for an options field as [`KeyOptions::render`] writes it (names matched
    /// case-insensitively, as sshd does).
    ///
    /// # Errors
    /// The field does not follow sshd's grammar ([`parse_options`]), names an option this object
    /// has no member for, or repeats a flag or a single-valued option.
    pub fn parse(field: &str) -> Result<KeyOptions, OptionsError> {
        KeyOptions::from_options(parse_options(field)?)
    }

    /// The object for options already parsed with sshd's grammar ([`parse_options`]), e.g. the
    /// CLI's `--option` arguments each parsed on its own: flags become `true`, `environment`,
    /// `permitopen` and `permitlisten` collect their values in order. Names match
    /// case-insensitively, as sshd does.
    ///
    /// # Errors
    /// [`OptionsError::Unknown`] for an option this object has no member for;
    /// [`OptionsError::Duplicate`] for a flag or a single-valued option given twice.
    pub fn from_options(
        options: impl IntoIterator<Item = KeyOption>,
    ) -> Result<KeyOptions, OptionsError> {
        let mut out = KeyOptions::default();
        for option in options {
            let lower = option.normalized_name();
            let repeated = || OptionsError::Duplicate(lower.clone());
            match option.value {
                None => {
                    let flag = out
                        .flag_mut(&lower)
                        .ok_or_else(|| OptionsError::Unknown(lower.clone()))?;
                    if *flag {
                        return Err(repeated());
                    }
                    *flag = true;
                }
                Some(value) => {
                    let slot = match lower.as_str() {
                        "environment" => {
                            out.environment.push(value);
                            continue;
                        }
                        "permitopen" => {
                            out.permitopen.push(value);
                            continue;
                        }
                        "permitlisten" => {
                            out.permitlisten.push(value);
                            continue;
                        }
                        "principals" => &mut out.principals,
                        "from" => &mut out.from,
                        "expiry-time" => &mut out.expiry_time,
                        "command" => &mut out.command,
                        "tunnel" => &mut out.tunnel,
                        _ => return Err(OptionsError::Unknown(lower)),
                    };
                    if slot.replace(value).is_some() {
                        return Err(repeated());
                    }
                }
            }
        }
        Ok(out)
    }
}

/// The user-facing message for an error of [`render_option`] about the option `field`.
fn option_error(field: &str, e: OptionsError) -> KeyOptionsError {
    match e {
        OptionsError::InvalidValue { reason, .. } => error(field, reason),
        other => error(field, other.to_string()),
    }
}

/// `from`: sshd (`match_host_and_ip`, `addr_match_list`) denies every source when the list has
/// an empty entry or a CIDR block whose mask is inconsistent; an entry with `/` that is no CIDR
/// block can never match. Spaces never match either.
fn check_from(value: &str) -> Result<(), String> {
    for (i, entry) in value.split(',').enumerate() {
        let pattern = entry.strip_prefix('!').unwrap_or(entry);
        let n = i + 1;
        if pattern.is_empty() {
            return Err(format!(
                "entry {n} is empty (sshd would then refuse every source)"
            ));
        }
        if pattern.contains([' ', '"']) {
            return Err(format!(
                "entry {n} contains a space or a quote and can never match"
            ));
        }
        if let Some((addr, len)) = pattern.split_once('/') {
            check_cidr(addr, len).map_err(|why| format!("entry {n}: {why}"))?;
        }
    }
    Ok(())
}

/// A CIDR block as sshd's `addr_pton_cidr` accepts it: an address, a prefix length within the
/// address family, and no host bits set.
fn check_cidr(addr: &str, len: &str) -> Result<(), &'static str> {
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| "a CIDR block needs an IP address before the /")?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len: u32 = Some(len)
        .filter(|l| !l.is_empty() && l.len() <= 3 && l.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|l| l.parse().ok())
        .filter(|l| *l <= max)
        .ok_or("the prefix length after / is not valid for the address")?;
    let host_bits = match addr {
        IpAddr::V4(v4) => u128::from(u32::from(v4) & u32::MAX.checked_shr(len).unwrap_or(0)),
        IpAddr::V6(v6) => u128::from(v6) & u128::MAX.checked_shr(len).unwrap_or(0),
    };
    if host_bits != 0 {
        return Err(
            "the address has bits set beyond the prefix length (sshd refuses every source)",
        );
    }
    Ok(())
}

impl KeyOptions {
    /// When `expiry-time` makes sshd refuse the key, as an instant: with `Z` the time in UTC;
    /// without, the host's local time read as the latest instant it can be anywhere (UTC-12), so
    /// testum never takes a key away before sshd itself refuses it. `None` without the option
    /// (or with a value that is not a valid date, which [`KeyOptions::render`] refuses).
    pub fn expires_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let value = self.expiry_time.as_deref()?;
        let (digits, utc) = match value.strip_suffix(['Z', 'z']) {
            Some(digits) => (digits, true),
            None => (value, false),
        };
        if !matches!(digits.len(), 8 | 12 | 14) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let naive =
            chrono::NaiveDateTime::parse_from_str(&format!("{digits:0<14}"), "%Y%m%d%H%M%S")
                .ok()?;
        let at = naive.and_utc();
        Some(if utc {
            at
        } else {
            at + chrono::Duration::hours(12)
        })
    }
}

/// `expiry-time`: the digits must be a real date and time (`parse_absolute_time` uses
/// `strptime`, which refuses month 13). The shape itself is checked by [`render_option`].
fn check_expiry_date(value: &str) -> Result<(), &'static str> {
    let digits = value.strip_suffix(['Z', 'z']).unwrap_or(value);
    if !matches!(digits.len(), 8 | 12 | 14) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(());
    }
    // Missing time fields are midnight, as in sshd.
    chrono::NaiveDateTime::parse_from_str(&format!("{digits:0<14}"), "%Y%m%d%H%M%S")
        .map(|_| ())
        .map_err(|_| "is not a valid date and time (YYYYMMDD[HHMM[SS]][Z])")
}

#[cfg(test)]
#[path = "key_options_tests.rs"]
mod tests;
