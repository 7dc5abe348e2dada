//! The options field of an authorized_keys line, parsed with sshd's grammar.
//!
//! The rules follow OpenSSH `auth-options.c` (`sshauthopt_parse`, `opt_flag`, `opt_match`,
//! `opt_dequote`, `handle_permit`) and `sshkey_advance_past_options` in `sshkey.c`, as documented
//! in sshd(8) "AUTHORIZED_KEYS FILE FORMAT":
//!
//! - the options field ends at the first space or tab that is not inside double quotes;
//! - options are separated by commas, but only outside double quotes (case AK-01);
//! - a value is always double-quoted (`name="value"`); inside the quotes commas, spaces, tabs and
//!   single quotes are literal (cases AK-01, AK-02) and `\"` stands for a quote; any other
//!   backslash is literal;
//! - option names match case-insensitively; flags take no value (case AK-09), and the
//!   forwarding/pty/user-rc/touch/verify flags may be negated with `no-`;
//! - an unknown option makes sshd ignore the whole line, so it is an error here too.

/// One parsed option: `no-pty` is `{name: "no-pty", value: None}`,
/// `from="10.0.0.*,192.168.1.*"` is `{name: "from", value: Some("10.0.0.*,192.168.1.*")}`.
///
/// `name` is kept as written (sshd matches names case-insensitively; compare with
/// [`KeyOption::normalized_name`]); `value` is the dequoted value (`\"` turned into `"`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyOption {
    /// Option name as written in the line.
    pub name: String,
    /// Dequoted value for `name="value"` options; `None` for flags.
    pub value: Option<String>,
}

impl KeyOption {
    /// The name in lower case, as sshd compares it (`strncasecmp`).
    pub fn normalized_name(&self) -> String {
        self.name.to_ascii_lowercase()
    }
}

/// Why an options field does not follow sshd's grammar. Messages name the option but never
/// echo a value (values may carry anything a user typed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionsError {
    /// A double quote was opened and never closed (`missing end quote` in sshd).
    #[error("unterminated double quote in options")]
    UnterminatedQuote,
    /// The options field ends with a comma (`unexpected end-of-options` in sshd).
    #[error("options end with a comma")]
    TrailingComma,
    /// An option sshd does not know; sshd ignores the whole line (case AK-09).
    #[error("unknown option {0:?} (sshd ignores a line with an unknown option)")]
    Unknown(String),
    /// An option that takes a value was given without `="..."`.
    #[error("option {0:?} requires a quoted value")]
    MissingValue(String),
    /// A flag option was given a value.
    #[error("option {0:?} takes no value")]
    UnexpectedValue(String),
    /// A value that does not start with a double quote (`missing start quote` in sshd).
    #[error("value of option {0:?} must be in double quotes")]
    UnquotedValue(String),
    /// Something other than a comma follows a closing quote.
    #[error("unexpected character after the quoted value of option {0:?}")]
    GarbageAfterValue(String),
    /// sshd refuses a second `command`, `principals` or `from` clause.
    #[error("option {0:?} given more than once")]
    Duplicate(String),
    /// A value sshd would refuse (expiry-time, environment, tunnel, permitopen, permitlisten).
    #[error("invalid value for option {name:?}: {reason}")]
    InvalidValue {
        /// Option name (lower case).
        name: String,
        /// What is wrong, without echoing the value.
        reason: &'static str,
    },
}

/// Flags sshd knows, and whether `no-<flag>` is accepted (`opt_flag(name, allow_negate)`).
const FLAGS: &[(&str, bool)] = &[
    ("restrict", false),
    ("cert-authority", false),
    ("port-forwarding", true),
    ("agent-forwarding", true),
    ("x11-forwarding", true),
    ("touch-required", true),
    ("verify-required", true),
    ("pty", true),
    ("user-rc", true),
];

/// Options that require a quoted value (`opt_match(name)` followed by `opt_dequote`).
const VALUED: &[&str] = &[
    "command",
    "principals",
    "from",
    "expiry-time",
    "environment",
    "permitopen",
    "permitlisten",
    "tunnel",
];

/// Options sshd refuses to see twice on one line ("multiple \"command\" clauses").
const SINGLE: &[&str] = &["command", "principals", "from"];

/// Options whose presence lets sshd fall through to a later line with the same key when the check
/// fails (source address, certificate principals, expiry). Used for the AK-04 warning.
pub(crate) const RESTRICTING: &[&str] = &["from", "principals", "expiry-time"];

fn is_flag(lower: &str) -> bool {
    FLAGS.iter().any(|(flag, negatable)| {
        lower == *flag || (*negatable && lower.strip_prefix("no-") == Some(flag))
    })
}

/// Split a line (leading whitespace already skipped) into its options field and the rest, like
/// sshd's `sshkey_advance_past_options`: the field ends at the first space or tab outside double
/// quotes; `\"` never toggles quoting. Returns `(options, rest)` where `rest` starts at that space
/// (or is empty).
///
/// # Errors
/// [`OptionsError::UnterminatedQuote`] when the line ends inside quotes.
pub fn split_options_field(line: &str) -> Result<(&str, &str), OptionsError> {
    let bytes = line.as_bytes();
    let mut quoted = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !quoted && (b == b' ' || b == b'\t') {
            break;
        }
        if b == b'\\' && bytes.get(i + 1) == Some(&b'"') {
            i += 2;
            continue;
        }
        if b == b'"' {
            quoted = !quoted;
        }
        i += 1;
    }
    if quoted {
        return Err(OptionsError::UnterminatedQuote);
    }
    // `i` is at an ASCII byte or the end, so both slices are on char boundaries.
    Ok((&line[..i], &line[i..]))
}

/// Parse an options field (the part before the key type, without surrounding whitespace) into
/// its options, in the order written.
///
/// Follows `sshauthopt_parse`: empty items between commas are skipped as sshd does, a trailing
/// comma is an error, values must be double-quoted, and the value checks sshd makes at parse
/// time are made here too (expiry-time `YYYYMMDD[HHMM[SS]][Z]`, environment `NAME=value`,
/// tunnel `any` or a number, permitopen `host:port`, permitlisten `[host:]port`, no second
/// `command`/`principals`/`from`).
///
/// ```
/// use testum::authorized_keys::parse_options;
/// let opts = parse_options(r#"from="10.0.0.*,192.168.1.*",no-agent-forwarding"#).unwrap();
/// assert_eq!(opts[0].value.as_deref(), Some("10.0.0.*,192.168.1.*"));
/// assert_eq!(opts[1].name, "no-agent-forwarding");
/// ```
///
/// # Errors
/// An [`OptionsError`] naming the first problem.
pub fn parse_options(field: &str) -> Result<Vec<KeyOption>, OptionsError> {
    let mut out: Vec<KeyOption> = Vec::new();
    let mut rest = field;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix(',') {
            // sshd skips an empty item; a comma at the very end is an error.
            if after.is_empty() {
                return Err(OptionsError::TrailingComma);
            }
            rest = after;
            continue;
        }
        let name_end = rest.find([',', '=']).unwrap_or(rest.len());
        let name = &rest[..name_end];
        let lower = name.to_ascii_lowercase();
        if rest[name_end..].starts_with('=') {
            if is_flag(&lower) {
                return Err(OptionsError::UnexpectedValue(lower));
            }
            if !VALUED.contains(&lower.as_str()) {
                return Err(OptionsError::Unknown(lower));
            }
            let (value, after) = dequote(&rest[name_end + 1..], &lower)?;
            if SINGLE.contains(&lower.as_str()) && out.iter().any(|o| o.normalized_name() == lower)
            {
                return Err(OptionsError::Duplicate(lower));
            }
            check_value(&lower, &value)?;
            out.push(KeyOption {
                name: name.to_string(),
                value: Some(value),
            });
            rest = after;
        } else {
            if VALUED.contains(&lower.as_str()) {
                return Err(OptionsError::MissingValue(lower));
            }
            if !is_flag(&lower) {
                return Err(OptionsError::Unknown(lower));
            }
            out.push(KeyOption {
                name: name.to_string(),
                value: None,
            });
            rest = &rest[name_end..];
        }
        // After an option: end of field, or a comma (handled at the top of the loop).
        if !rest.is_empty() && !rest.starts_with(',') {
            return Err(OptionsError::GarbageAfterValue(lower));
        }
    }
    Ok(out)
}

/// Render one option from a structured form, quoting as sshd's `opt_dequote` reads it back: flags
/// as their name, valued options as `name="value"` with every `"` escaped as `\"` (commas and
/// spaces need no escaping inside quotes, case AK-01). The result always parses back (via
/// [`parse_options`]) to the same name and value.
///
/// # Errors
/// [`OptionsError::InvalidValue`] for a value sshd cannot carry: one ending in a backslash (it
/// would escape the closing quote) or containing a control character; and every error
/// [`parse_options`] gives for the rendered option (unknown name, missing or unexpected value).
pub fn render_option(name: &str, value: Option<&str>) -> Result<String, OptionsError> {
    let rendered = match value {
        None => name.to_string(),
        Some(v) => {
            let lower = name.to_ascii_lowercase();
            if v.ends_with('\\') {
                return Err(invalid(&lower, "a value cannot end with a backslash"));
            }
            if v.chars().any(char::is_control) {
                return Err(invalid(&lower, "a value cannot contain control characters"));
            }
            format!("{name}=\"{}\"", v.replace('"', "\\\""))
        }
    };
    parse_options(&rendered)?;
    Ok(rendered)
}

/// `opt_dequote`: `s` must start with `"`; read to the next unescaped `"`, turning `\"` into `"`.
/// Returns the value and the text after the closing quote.
fn dequote<'a>(s: &'a str, name: &str) -> Result<(String, &'a str), OptionsError> {
    let Some(body) = s.strip_prefix('"') else {
        return Err(OptionsError::UnquotedValue(name.to_string()));
    };
    let mut value = String::new();
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some((_, '"'))) => {
                value.push('"');
                chars.next();
            }
            '"' => return Ok((value, &body[i + 1..])),
            other => value.push(other),
        }
    }
    Err(OptionsError::UnterminatedQuote)
}

fn invalid(name: &str, reason: &'static str) -> OptionsError {
    OptionsError::InvalidValue {
        name: name.to_string(),
        reason,
    }
}

/// The value checks `sshauthopt_parse` makes before accepting a line.
fn check_value(name: &str, value: &str) -> Result<(), OptionsError> {
    match name {
        "expiry-time" => {
            // parse_absolute_time: YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS, optional Z (UTC).
            let digits = value.strip_suffix(['Z', 'z']).unwrap_or(value);
            if !matches!(digits.len(), 8 | 12 | 14) || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid(name, "expected YYYYMMDD[HHMM[SS]][Z]"));
            }
            Ok(())
        }
        "environment" => {
            // valid_env_name: a non-empty name of letters, digits and '_', then '='.
            match value.split_once('=') {
                Some((env, _))
                    if !env.is_empty()
                        && env.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
                {
                    Ok(())
                }
                _ => Err(invalid(name, "expected NAME=value")),
            }
        }
        "tunnel" => {
            // a2tun: "any" or a device number.
            if value.eq_ignore_ascii_case("any")
                || (!value.is_empty()
                    && value.len() <= 10
                    && value.bytes().all(|b| b.is_ascii_digit())
                    && value.parse::<u64>().is_ok_and(|n| n < 0x7fff_fffe))
            {
                Ok(())
            } else {
                Err(invalid(name, "expected \"any\" or a tunnel device number"))
            }
        }
        "permitopen" => check_permit(name, value, false),
        "permitlisten" => check_permit(name, value, true),
        _ => Ok(()),
    }
}

/// `handle_permit`: `host:port` (IPv6 hosts in brackets), port a number 1-65535 or `*`;
/// permitlisten also accepts a bare port.
fn check_permit(name: &str, value: &str, allow_bare_port: bool) -> Result<(), OptionsError> {
    let (host, port) = if let Some(inner) = value.strip_prefix('[') {
        match inner.split_once("]:") {
            Some((h, p)) => (h, p),
            None => return Err(invalid(name, "expected [host]:port")),
        }
    } else {
        match value.split_once(':') {
            Some((h, p)) if !p.contains(':') => (h, p),
            Some(_) => return Err(invalid(name, "IPv6 hosts must be in brackets")),
            None if allow_bare_port => ("*", value),
            None => return Err(invalid(name, "expected host:port")),
        }
    };
    if host.is_empty() || host.len() >= 1025 {
        return Err(invalid(name, "invalid host"));
    }
    let port_ok = port == "*"
        || (port.len() <= 5
            && !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p)));
    if !port_ok {
        return Err(invalid(name, "port must be 1-65535 or *"));
    }
    Ok(())
}
