//! LDAP sign-in: check a username and password against a directory and read the user's groups.
//!
//! The flow is the usual "search, then bind" of LDAP-backed applications (as in OpenLDAP's
//! `ldapwhoami` pattern and the way Gitea, Grafana or Semaphore do it):
//! 1. connect to `TESTUM_LDAP_URL` (`ldaps://`, or `ldap://` with StartTLS, RFC 4513 §3; plain
//!    `ldap://` only to a loopback address), bind as the service account (`TESTUM_LDAP_BIND_DN`)
//!    or anonymously;
//! 2. search `TESTUM_LDAP_USER_BASE` for `TESTUM_LDAP_USER_FILTER` with `{username}` replaced by
//!    the typed name, escaped as RFC 4515 requires; exactly one entry must match (a disabled
//!    account is one the filter leaves out, e.g. Active Directory's
//!    `(!(userAccountControl:1.2.840.113556.1.4.803:=2))`);
//! 3. read the entry's groups: the values of `TESTUM_LDAP_GROUP_ATTRIBUTE` (`memberOf`) named by
//!    the value of their first RDN (`cn=web-ops,ou=groups,...` → `web-ops`), or, with
//!    `TESTUM_LDAP_GROUP_BASE`, the `TESTUM_LDAP_GROUP_NAME_ATTRIBUTE` of the groups found there by
//!    `TESTUM_LDAP_GROUP_FILTER` (`{dn}` is the user's DN);
//! 4. bind as the entry's DN with the password (simple bind, RFC 4513 §5.1.3).
//!
//! An empty password is refused before any bind: a simple bind with a DN and no password is an
//! "unauthenticated bind" that many servers answer with success (RFC 4513 §5.1.2).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry, ldap_escape};

use crate::secret::Secret;

/// `invalidCredentials`, the result code of a bind with a wrong password (RFC 4511 §4.1.9).
const INVALID_CREDENTIALS: u32 = 49;

/// LDAP sign-in settings; all unset (the default) means no LDAP sign-in.
#[derive(Debug, Clone, Default, Args)]
pub struct LdapSettings {
    /// LDAP server for sign-in: `ldaps://host:636`, or `ldap://host:389` with
    /// `--ldap-starttls`; plain `ldap://` is allowed only to a loopback address.
    #[arg(long = "ldap-url", env = "TESTUM_LDAP_URL")]
    pub url: Option<String>,
    /// Upgrade an `ldap://` connection with StartTLS before anything is sent.
    #[arg(long = "ldap-starttls", env = "TESTUM_LDAP_STARTTLS")]
    pub starttls: bool,
    /// PEM file of the CA certificates that sign the LDAP server's certificate (default: the
    /// system's roots).
    #[arg(long = "ldap-ca-file", env = "TESTUM_LDAP_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// DN of the service account that searches for users (default: an anonymous search).
    #[arg(long = "ldap-bind-dn", env = "TESTUM_LDAP_BIND_DN")]
    pub bind_dn: Option<String>,
    /// File holding the service account's password (one line; a final newline is ignored).
    #[arg(
        long = "ldap-bind-password-file",
        env = "TESTUM_LDAP_BIND_PASSWORD_FILE"
    )]
    pub bind_password_file: Option<PathBuf>,
    /// Where users are searched (subtree), e.g. `ou=people,dc=example,dc=com`.
    #[arg(long = "ldap-user-base", env = "TESTUM_LDAP_USER_BASE")]
    pub user_base: Option<String>,
    /// Filter that finds one user; `{username}` is replaced by the typed name, escaped.
    #[arg(
        long = "ldap-user-filter",
        env = "TESTUM_LDAP_USER_FILTER",
        default_value = "(uid={username})"
    )]
    pub user_filter: String,
    /// Attribute of the user entry that holds the username testum records.
    #[arg(
        long = "ldap-username-attribute",
        env = "TESTUM_LDAP_USERNAME_ATTRIBUTE",
        default_value = "uid"
    )]
    pub username_attribute: String,
    /// Attribute of the user entry that lists the DNs of its groups.
    #[arg(
        long = "ldap-group-attribute",
        env = "TESTUM_LDAP_GROUP_ATTRIBUTE",
        default_value = "memberOf"
    )]
    pub group_attribute: String,
    /// Search groups here instead of reading the user's group attribute.
    #[arg(long = "ldap-group-base", env = "TESTUM_LDAP_GROUP_BASE")]
    pub group_base: Option<String>,
    /// Filter for the groups of a user under the group base; `{dn}` is the user's DN, escaped.
    #[arg(
        long = "ldap-group-filter",
        env = "TESTUM_LDAP_GROUP_FILTER",
        default_value = "(member={dn})"
    )]
    pub group_filter: String,
    /// Attribute that names a group found under the group base.
    #[arg(
        long = "ldap-group-name-attribute",
        env = "TESTUM_LDAP_GROUP_NAME_ATTRIBUTE",
        default_value = "cn"
    )]
    pub group_name_attribute: String,
    /// Seconds to wait for the server: connecting, and each operation.
    #[arg(long = "ldap-timeout-secs", env = "TESTUM_LDAP_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub timeout_secs: u64,
    /// What `serve` does when the directory cannot be reached or refuses the service account at
    /// start: `fail` (stop, naming the setting) or `disable` (log it and run without LDAP
    /// sign-in; local accounts keep working).
    #[arg(long = "ldap-on-error", env = "TESTUM_LDAP_ON_ERROR", default_value = "fail",
          value_parser = ["fail", "disable"])]
    pub on_error: String,
}

/// A user the directory vouched for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapIdentity {
    /// The user entry's DN (the identity provider's subject, for the audit log).
    pub dn: String,
    /// The username as the directory spells it (the username attribute), else as typed.
    pub username: String,
    /// Names of the user's groups, sorted, without duplicates.
    pub groups: Vec<String>,
}

/// Why a sign-in through LDAP failed.
#[derive(Debug, thiserror::Error)]
pub enum LdapError {
    /// Wrong password, no such user, a user the filter leaves out (disabled) or an empty password:
    /// one answer for all, as for local accounts.
    #[error("invalid username or password")]
    Rejected,
    /// The directory could not be asked: unreachable, TLS failure, the service account refused,
    /// more than one entry for a username. The text is for the log (it holds no password).
    #[error("LDAP directory unavailable: {0}")]
    Unavailable(String),
}

fn unavailable(what: &str) -> impl Fn(ldap3::LdapError) -> LdapError + '_ {
    move |e| LdapError::Unavailable(format!("{what}: {e}"))
}

/// A validated LDAP configuration, ready to check passwords.
#[derive(Clone)]
pub struct Directory {
    url: String,
    starttls: bool,
    tls: Option<Arc<tokio_rustls::rustls::ClientConfig>>,
    bind: Option<(String, Secret)>,
    user_base: String,
    user_filter: String,
    username_attribute: String,
    group_attribute: String,
    group_base: Option<String>,
    group_filter: String,
    group_name_attribute: String,
    timeout: Duration,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("url", &self.url)
            .field("user_base", &self.user_base)
            .finish_non_exhaustive()
    }
}

impl Directory {
    /// The directory `settings` describe, `None` when `TESTUM_LDAP_URL` is unset. Errors are one
    /// line naming the setting at fault.
    pub fn from_settings(settings: &LdapSettings) -> Result<Option<Directory>, String> {
        let Some(url) = settings.url.as_deref().map(str::trim) else {
            // Settings that only make sense with a directory point at a forgotten URL: say so
            // rather than start with LDAP sign-in silently off.
            let orphan = [
                ("TESTUM_LDAP_USER_BASE", settings.user_base.is_some()),
                ("TESTUM_LDAP_BIND_DN", settings.bind_dn.is_some()),
                ("TESTUM_LDAP_GROUP_BASE", settings.group_base.is_some()),
                ("TESTUM_LDAP_CA_FILE", settings.ca_file.is_some()),
            ]
            .into_iter()
            .find(|(_, set)| *set);
            if let Some((setting, _)) = orphan {
                return Err(format!(
                    "TESTUM_LDAP_URL: required with {setting} (LDAP sign-in needs the directory's URL)"
                ));
            }
            return Ok(None);
        };
        let plain = match url.split_once("://") {
            Some(("ldaps", _)) => false,
            Some(("ldap", _)) => true,
            _ => {
                return Err(format!(
                    "TESTUM_LDAP_URL {url:?}: must start with ldaps:// or ldap://"
                ));
            }
        };
        if plain && !settings.starttls && !loopback(url) {
            return Err(format!(
                "TESTUM_LDAP_URL {url:?}: passwords would cross the network in clear text; use \
                 ldaps:// or set TESTUM_LDAP_STARTTLS=true (plain ldap:// is for loopback only)"
            ));
        }
        if !plain && settings.starttls {
            return Err(
                "TESTUM_LDAP_STARTTLS: applies to ldap:// only; ldaps:// is TLS already".into(),
            );
        }
        let user_base = settings
            .user_base
            .clone()
            .filter(|b| !b.trim().is_empty())
            .ok_or("TESTUM_LDAP_USER_BASE: required with TESTUM_LDAP_URL")?;
        if !settings.user_filter.contains("{username}") {
            return Err("TESTUM_LDAP_USER_FILTER: must contain {username}".into());
        }
        if ldap3::parse_filter(settings.user_filter.replace("{username}", "x")).is_err() {
            return Err(format!(
                "TESTUM_LDAP_USER_FILTER {:?}: is not an LDAP filter (RFC 4515)",
                settings.user_filter
            ));
        }
        if settings.group_base.is_some() {
            if !settings.group_filter.contains("{dn}") {
                return Err("TESTUM_LDAP_GROUP_FILTER: must contain {dn}".into());
            }
            if ldap3::parse_filter(settings.group_filter.replace("{dn}", "x")).is_err() {
                return Err(format!(
                    "TESTUM_LDAP_GROUP_FILTER {:?}: is not an LDAP filter (RFC 4515)",
                    settings.group_filter
                ));
            }
        }
        let bind = match (&settings.bind_dn, &settings.bind_password_file) {
            (None, None) => None,
            (Some(dn), Some(file)) => Some((dn.clone(), read_password(file)?)),
            (Some(_), None) => {
                return Err(
                    "TESTUM_LDAP_BIND_PASSWORD_FILE: required with TESTUM_LDAP_BIND_DN".into(),
                );
            }
            (None, Some(_)) => {
                return Err(
                    "TESTUM_LDAP_BIND_DN: required with TESTUM_LDAP_BIND_PASSWORD_FILE".into(),
                );
            }
        };
        let tls = match &settings.ca_file {
            Some(file) => Some(tls_config(file)?),
            None => None,
        };
        Ok(Some(Directory {
            url: url.to_string(),
            starttls: settings.starttls,
            tls,
            bind,
            user_base,
            user_filter: settings.user_filter.clone(),
            username_attribute: settings.username_attribute.clone(),
            group_attribute: settings.group_attribute.clone(),
            group_base: settings.group_base.clone(),
            group_filter: settings.group_filter.clone(),
            group_name_attribute: settings.group_name_attribute.clone(),
            timeout: Duration::from_secs(settings.timeout_secs),
        }))
    }

    /// The directory `settings` describe, checked as `serve` starts: `None` when LDAP sign-in is
    /// not configured, or when the check failed and `TESTUM_LDAP_ON_ERROR=disable` (logged at
    /// error). Errors (one line naming the setting): a bad setting, or a failed check under
    /// `TESTUM_LDAP_ON_ERROR=fail`.
    pub async fn open(settings: &LdapSettings) -> Result<Option<Directory>, String> {
        let Some(directory) = Directory::from_settings(settings)? else {
            return Ok(None);
        };
        match directory.check().await {
            Ok(()) => {
                tracing::info!(url = %directory.url, "LDAP sign-in is on");
                Ok(Some(directory))
            }
            Err(e) if settings.on_error == "disable" => {
                tracing::error!(url = %directory.url, error = %e,
                    "LDAP sign-in is off (TESTUM_LDAP_ON_ERROR=disable): the directory failed \
                     its start check; local accounts can still sign in");
                Ok(None)
            }
            Err(LdapError::Unavailable(e)) => Err(format!(
                "{e} (TESTUM_LDAP_ON_ERROR=disable starts without LDAP sign-in instead)"
            )),
            Err(LdapError::Rejected) => Err("TESTUM_LDAP_URL: the start check was refused".into()),
        }
    }

    /// Connect and bind as the service account (or anonymously): what `serve` checks at start so
    /// that a wrong URL, certificate or service password is found before the first user is.
    pub async fn check(&self) -> Result<(), LdapError> {
        let mut ldap = self.connect().await?;
        for (setting, base) in std::iter::once(("TESTUM_LDAP_USER_BASE", &self.user_base)).chain(
            self.group_base
                .iter()
                .map(|base| ("TESTUM_LDAP_GROUP_BASE", base)),
        ) {
            // RFC 4511 §4.5.1: a base-object search of an entry that is not there is
            // noSuchObject (32).
            ldap.with_timeout(self.timeout)
                .search(base, Scope::Base, "(objectClass=*)", vec!["1.1"])
                .await
                .map_err(unavailable(setting))?
                .success()
                .map_err(|e| LdapError::Unavailable(format!("{setting} {base:?}: {e}")))?;
        }
        ldap.unbind().await.map_err(unavailable("unbind"))
    }

    /// Check `password` for `username` and read the user's groups (see the module docs).
    /// Errors: [`LdapError::Rejected`] for anything the user got wrong, else
    /// [`LdapError::Unavailable`].
    pub async fn authenticate(
        &self,
        username: &str,
        password: &Secret,
    ) -> Result<LdapIdentity, LdapError> {
        if password.expose().is_empty() || username.is_empty() {
            return Err(LdapError::Rejected);
        }
        let mut ldap = self.connect().await?;
        let (entry, identity) = self.find(&mut ldap, username).await?;
        let bound = ldap
            .with_timeout(self.timeout)
            .simple_bind(&entry.dn, password.expose())
            .await
            .map_err(unavailable("user bind"))?;
        if bound.rc == INVALID_CREDENTIALS {
            return Err(LdapError::Rejected);
        }
        bound.success().map_err(unavailable("user bind"))?;
        let _ = ldap.unbind().await;
        Ok(identity)
    }

    /// The user `username` as the directory has it now (entry still there and not left out by
    /// the user filter, and its groups), without a password: what a session's refresh checks.
    /// `Ok(None)` when the entry is gone or filtered out.
    pub async fn lookup(&self, username: &str) -> Result<Option<LdapIdentity>, LdapError> {
        let mut ldap = self.connect().await?;
        let found = self.find(&mut ldap, username).await;
        let _ = ldap.unbind().await;
        match found {
            Ok((_, identity)) => Ok(Some(identity)),
            Err(LdapError::Rejected) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The one entry the user filter finds for `username` on `ldap`, and the identity it gives
    /// (DN, username, groups). [`LdapError::Rejected`] when there is none.
    async fn find(
        &self,
        ldap: &mut ldap3::Ldap,
        username: &str,
    ) -> Result<(SearchEntry, LdapIdentity), LdapError> {
        let filter = self
            .user_filter
            .replace("{username}", &ldap_escape(username));
        let (entries, _) = ldap
            .with_timeout(self.timeout)
            .search(
                &self.user_base,
                Scope::Subtree,
                &filter,
                vec![
                    self.username_attribute.as_str(),
                    self.group_attribute.as_str(),
                ],
            )
            .await
            .map_err(unavailable("user search"))?
            .success()
            .map_err(unavailable("user search"))?;
        let entry = match <[_; 1]>::try_from(entries) {
            Ok([entry]) => SearchEntry::construct(entry),
            Err(entries) if entries.is_empty() => return Err(LdapError::Rejected),
            Err(entries) => {
                return Err(LdapError::Unavailable(format!(
                    "TESTUM_LDAP_USER_FILTER matches {} entries for one username",
                    entries.len()
                )));
            }
        };
        let groups = match &self.group_base {
            Some(base) => {
                let filter = self.group_filter.replace("{dn}", &ldap_escape(&entry.dn));
                let (found, _) = ldap
                    .with_timeout(self.timeout)
                    .search(
                        base,
                        Scope::Subtree,
                        &filter,
                        vec![self.group_name_attribute.as_str()],
                    )
                    .await
                    .map_err(unavailable("group search"))?
                    .success()
                    .map_err(unavailable("group search"))?;
                found
                    .into_iter()
                    .filter_map(|g| {
                        let g = SearchEntry::construct(g);
                        g.attrs.get(&self.group_name_attribute)?.first().cloned()
                    })
                    .collect()
            }
            None => attribute(&entry, &self.group_attribute)
                .iter()
                .filter_map(|dn| first_rdn_value(dn))
                .collect(),
        };
        let identity = LdapIdentity {
            dn: entry.dn.clone(),
            username: attribute(&entry, &self.username_attribute)
                .first()
                .cloned()
                .unwrap_or_else(|| username.to_string()),
            groups: sorted(groups),
        };
        Ok((entry, identity))
    }

    /// A connection bound as the service account, or anonymous.
    async fn connect(&self) -> Result<ldap3::Ldap, LdapError> {
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(self.timeout)
            .set_starttls(self.starttls);
        if let Some(config) = &self.tls {
            settings = settings.set_config(config.clone());
        }
        let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &self.url)
            .await
            .map_err(|e| {
                LdapError::Unavailable(format!("TESTUM_LDAP_URL {}: cannot connect: {e}", self.url))
            })?;
        ldap3::drive!(conn);
        if let Some((dn, password)) = &self.bind {
            ldap.with_timeout(self.timeout)
                .simple_bind(dn, password.expose())
                .await
                .map_err(unavailable("TESTUM_LDAP_BIND_DN: the service bind"))?
                .success()
                .map_err(unavailable(
                    "TESTUM_LDAP_BIND_DN, TESTUM_LDAP_BIND_PASSWORD_FILE: the service bind failed",
                ))?;
        }
        Ok(ldap)
    }
}

/// The values of `name` in `entry` (attribute names are matched without regard to case, as
/// LDAP does).
fn attribute<'a>(entry: &'a SearchEntry, name: &str) -> &'a [String] {
    entry
        .attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map_or(&[], |(_, v)| v.as_slice())
}

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names.dedup();
    names
}

/// Whether the host of `url` (`scheme://host[:port][/...]`) is a loopback address.
fn loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The value of the first RDN of `dn` (RFC 4514): `cn=web ops\, east,ou=groups` → `web ops,
/// east`. `None` for a DN without `=` in its first RDN or an empty value.
pub fn first_rdn_value(dn: &str) -> Option<String> {
    let (_, rest) = dn.split_once('=')?;
    let mut value = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ',' | '+' => break,
            '\\' => {
                let next = chars.next()?;
                match (next.to_digit(16), chars.peek().and_then(|c| c.to_digit(16))) {
                    // A hex pair is one byte of UTF-8; multi-byte characters come as several.
                    (Some(hi), Some(lo)) => {
                        chars.next();
                        let mut bytes = vec![u8::try_from(hi * 16 + lo).ok()?];
                        while chars.peek() == Some(&'\\') {
                            let mut ahead = chars.clone();
                            ahead.next();
                            let (Some(h), Some(l)) = (
                                ahead.next().and_then(|c| c.to_digit(16)),
                                ahead.next().and_then(|c| c.to_digit(16)),
                            ) else {
                                break;
                            };
                            bytes.push(u8::try_from(h * 16 + l).ok()?);
                            chars = ahead;
                        }
                        value.push_str(&String::from_utf8(bytes).ok()?);
                    }
                    _ => value.push(next),
                }
            }
            c => value.push(c),
        }
    }
    let value = value.trim().to_string();
    (!value.is_empty()).then_some(value)
}

fn read_password(file: &PathBuf) -> Result<Secret, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("TESTUM_LDAP_BIND_PASSWORD_FILE {}: {e}", file.display()))?;
    let password = text.strip_suffix('\n').unwrap_or(&text);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        return Err(format!(
            "TESTUM_LDAP_BIND_PASSWORD_FILE {}: is empty",
            file.display()
        ));
    }
    Ok(Secret::new(password.to_string()))
}

fn tls_config(file: &PathBuf) -> Result<Arc<tokio_rustls::rustls::ClientConfig>, String> {
    use tokio_rustls::rustls::{self, pki_types::CertificateDer, pki_types::pem::PemObject};
    let named = |e: &dyn std::fmt::Display| format!("TESTUM_LDAP_CA_FILE {}: {e}", file.display());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(file).map_err(|e| named(&e))? {
        roots
            .add(cert.map_err(|e| named(&e))?)
            .map_err(|e| named(&e))?;
    }
    if roots.is_empty() {
        return Err(named(&"holds no PEM certificate"));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| named(&e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> LdapSettings {
        LdapSettings {
            url: Some(url.into()),
            user_base: Some("ou=people,dc=example,dc=test".into()),
            user_filter: "(uid={username})".into(),
            username_attribute: "uid".into(),
            group_attribute: "memberOf".into(),
            group_filter: "(member={dn})".into(),
            group_name_attribute: "cn".into(),
            timeout_secs: 10,
            on_error: "fail".into(),
            ..LdapSettings::default()
        }
    }

    #[test]
    fn plain_ldap_is_for_loopback_only() {
        for url in [
            "ldap://127.0.0.1:389",
            "ldap://localhost",
            "ldap://[::1]:3890/",
        ] {
            assert!(Directory::from_settings(&settings(url)).is_ok(), "{url}");
        }
        let e = Directory::from_settings(&settings("ldap://ldap.example.com")).unwrap_err();
        assert!(
            e.starts_with("TESTUM_LDAP_URL \"ldap://ldap.example.com\": passwords"),
            "{e}"
        );
        let starttls = LdapSettings {
            starttls: true,
            ..settings("ldap://ldap.example.com")
        };
        assert!(Directory::from_settings(&starttls).is_ok());
        assert!(Directory::from_settings(&settings("ldaps://ldap.example.com")).is_ok());
        let e = Directory::from_settings(&settings("http://x")).unwrap_err();
        assert!(e.starts_with("TESTUM_LDAP_URL"), "{e}");
    }

    #[test]
    fn each_setting_error_names_its_setting() {
        assert!(
            Directory::from_settings(&LdapSettings::default())
                .unwrap()
                .is_none()
        );
        let forgotten_url = LdapSettings {
            url: None,
            ..settings("ldap://127.0.0.1")
        };
        assert_eq!(
            Directory::from_settings(&forgotten_url).unwrap_err(),
            "TESTUM_LDAP_URL: required with TESTUM_LDAP_USER_BASE (LDAP sign-in needs the \
             directory's URL)"
        );
        let no_base = LdapSettings {
            user_base: None,
            ..settings("ldap://127.0.0.1")
        };
        assert!(
            Directory::from_settings(&no_base)
                .unwrap_err()
                .starts_with("TESTUM_LDAP_USER_BASE")
        );
        let filter = LdapSettings {
            user_filter: "(uid=alice)".into(),
            ..settings("ldap://127.0.0.1")
        };
        assert!(
            Directory::from_settings(&filter)
                .unwrap_err()
                .starts_with("TESTUM_LDAP_USER_FILTER")
        );
        let unbalanced = LdapSettings {
            user_filter: "(uid={username}".into(),
            ..settings("ldap://127.0.0.1")
        };
        let e = Directory::from_settings(&unbalanced).unwrap_err();
        assert!(e.ends_with("is not an LDAP filter (RFC 4515)"), "{e}");
        let half = LdapSettings {
            bind_dn: Some("cn=svc".into()),
            ..settings("ldap://127.0.0.1")
        };
        assert!(
            Directory::from_settings(&half)
                .unwrap_err()
                .starts_with("TESTUM_LDAP_BIND_PASSWORD_FILE")
        );
        let missing = LdapSettings {
            bind_dn: Some("cn=svc".into()),
            bind_password_file: Some("/nonexistent/ldap-pw".into()),
            ..settings("ldap://127.0.0.1")
        };
        assert!(
            Directory::from_settings(&missing)
                .unwrap_err()
                .starts_with("TESTUM_LDAP_BIND_PASSWORD_FILE /nonexistent/ldap-pw: ")
        );
    }

    #[test]
    fn group_names_are_the_first_rdn_value() {
        assert_eq!(
            first_rdn_value("cn=web-ops,ou=groups,dc=example,dc=test").as_deref(),
            Some("web-ops")
        );
        assert_eq!(
            first_rdn_value("CN=Web Ops\\, East,OU=Groups").as_deref(),
            Some("Web Ops, East")
        );
        assert_eq!(
            first_rdn_value("cn=caf\\C3\\A9,dc=x").as_deref(),
            Some("café")
        );
        assert_eq!(first_rdn_value("cn=a+uid=b,dc=x").as_deref(), Some("a"));
        assert_eq!(first_rdn_value("no equals sign"), None);
        assert_eq!(first_rdn_value("cn=,dc=x"), None);
    }
}
