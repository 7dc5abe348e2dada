//! OpenID Connect settings, read from the environment (not flags: each provider has its own set,
//! named after it).
//!
//! `TESTUM_OIDC_PROVIDERS=corp,partner` turns sign-in through those providers on; each name `N`
//! (lowercase letters, digits and `-`; it is in the callback URL and in the `oidc:N` source of
//! the users and groups it makes) then reads `TESTUM_OIDC_<N>_<SETTING>` with `N` upper-cased and
//! `-` as `_`:
//!
//! | setting | meaning | default |
//! |---|---|---|
//! | `ISSUER` | issuer URL; `https://`, or `http://` to a loopback address | required |
//! | `CLIENT_ID` | the client id testum is registered under | required |
//! | `CLIENT_SECRET_FILE` | file holding the client secret (one line) | required, or `CLIENT_SECRET` |
//! | `CLIENT_SECRET` | the client secret itself (prefer the file) | |
//! | `DISPLAY_NAME` | shown as "Sign in with …" | the name |
//! | `SCOPES` | scopes asked for, space or comma separated; `openid` is always asked | `openid profile email` |
//! | `USERNAME_CLAIM` | ID token claim that names the testum user | `preferred_username` |
//! | `GROUPS_CLAIM` | ID token claim listing the user's groups (empty: none) | `groups` |
//! | `AUTO_CREATE` | create a user at its first sign-in | `TESTUM_OIDC_AUTO_CREATE`, `true` |
//! | `CA_FILE` | PEM CA certificates for the provider's HTTPS | system roots |
//! | `ON_ERROR` | `fail`: stop the start when the provider fails its start check; `disable`: start without it | `fail` |
//!
//! `TESTUM_PUBLIC_URL` (the address browsers use to reach testum, e.g.
//! `https://testum.example.com`) is required with any provider: the redirect URI registered at
//! the provider is `<public URL>/ui/oidc/<N>/callback`.

use std::path::PathBuf;

use openidconnect::url;

use crate::secret::Secret;

/// The OpenID Connect providers users may sign in through; empty: none.
#[derive(Debug, Clone, Default)]
pub struct OidcSettings {
    /// `TESTUM_PUBLIC_URL`, without a trailing `/`.
    pub public_url: Option<String>,
    pub providers: Vec<ProviderSettings>,
}

/// One provider's settings (see the module docs for the variables).
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    pub name: String,
    pub display_name: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// The variable the secret came from (`CLIENT_SECRET_FILE` or `CLIENT_SECRET`), named in
    /// errors.
    pub client_secret_setting: &'static str,
    /// Scopes asked for besides `openid`.
    pub scopes: Vec<String>,
    pub username_claim: String,
    /// `None`: groups are not taken from this provider.
    pub groups_claim: Option<String>,
    pub auto_create: bool,
    pub ca_file: Option<PathBuf>,
    /// Start without this provider (logged) when it fails its start check, instead of stopping.
    pub disable_on_error: bool,
}

impl OidcSettings {
    /// The settings in `vars` (name, value pairs, as [`std::env::vars`] gives them). Errors: one
    /// line naming the variable at fault and why.
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Result<Self, String> {
        let vars: std::collections::HashMap<String, String> = vars
            .into_iter()
            .filter(|(k, _)| k.starts_with("TESTUM_OIDC_") || k == "TESTUM_PUBLIC_URL")
            .collect();
        let get = |key: &str| vars.get(key).map(|v| v.trim()).filter(|v| !v.is_empty());
        let names: Vec<&str> = get("TESTUM_OIDC_PROVIDERS")
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let auto_create = match get("TESTUM_OIDC_AUTO_CREATE") {
            Some(v) => boolean("TESTUM_OIDC_AUTO_CREATE", v)?,
            None => true,
        };
        let mut providers: Vec<ProviderSettings> = Vec::new();
        for name in names {
            if !valid_name(name) {
                return Err(format!(
                    "TESTUM_OIDC_PROVIDERS: {name:?} is not a provider name (lowercase letters, \
                     digits and '-', up to 32, starting with a letter)"
                ));
            }
            if providers.iter().any(|p| p.name == name) {
                return Err(format!("TESTUM_OIDC_PROVIDERS: {name:?} is listed twice"));
            }
            let prefix = format!("TESTUM_OIDC_{}_", name.to_uppercase().replace('-', "_"));
            let key = |setting: &str| format!("{prefix}{setting}");
            let required = |setting: &str| {
                get(&key(setting)).map(str::to_string).ok_or_else(|| {
                    format!("{}: required for the OIDC provider {name:?}", key(setting))
                })
            };
            let client_secret_setting = if get(&key("CLIENT_SECRET")).is_some() {
                "CLIENT_SECRET"
            } else {
                "CLIENT_SECRET_FILE"
            };
            let client_secret = match (get(&key("CLIENT_SECRET_FILE")), get(&key("CLIENT_SECRET")))
            {
                (Some(_), Some(_)) => {
                    return Err(format!(
                        "{}: set the secret or its file, not both",
                        key("CLIENT_SECRET")
                    ));
                }
                (Some(path), None) => read_secret(&key("CLIENT_SECRET_FILE"), path)?,
                (None, Some(secret)) => Secret::new(secret),
                (None, None) => {
                    return Err(format!(
                        "{}: required for the OIDC provider {name:?} (or {})",
                        key("CLIENT_SECRET_FILE"),
                        key("CLIENT_SECRET")
                    ));
                }
            };
            let scopes = get(&key("SCOPES")).unwrap_or("openid profile email");
            providers.push(ProviderSettings {
                name: name.to_string(),
                display_name: get(&key("DISPLAY_NAME")).unwrap_or(name).to_string(),
                issuer: required("ISSUER")?,
                client_id: required("CLIENT_ID")?,
                client_secret,
                client_secret_setting,
                scopes: scopes
                    .split([' ', ','])
                    .filter(|s| !s.is_empty() && *s != "openid")
                    .map(str::to_string)
                    .collect(),
                username_claim: get(&key("USERNAME_CLAIM"))
                    .unwrap_or("preferred_username")
                    .to_string(),
                groups_claim: match vars.get(&key("GROUPS_CLAIM")) {
                    Some(v) if v.trim().is_empty() => None,
                    Some(v) => Some(v.trim().to_string()),
                    None => Some("groups".into()),
                },
                auto_create: match get(&key("AUTO_CREATE")) {
                    Some(v) => boolean(&key("AUTO_CREATE"), v)?,
                    None => auto_create,
                },
                ca_file: get(&key("CA_FILE")).map(PathBuf::from),
                disable_on_error: match get(&key("ON_ERROR")).unwrap_or("fail") {
                    "fail" => false,
                    "disable" => true,
                    other => {
                        return Err(format!(
                            "{}: {other:?} is neither \"fail\" nor \"disable\"",
                            key("ON_ERROR")
                        ));
                    }
                },
            });
        }
        // A variable no listed provider reads is a typo or a provider left out of the list: say
        // so rather than start without what it was meant to set.
        let mut names: Vec<&String> = vars.keys().collect();
        names.sort();
        for name in names {
            let global = [
                "TESTUM_PUBLIC_URL",
                "TESTUM_OIDC_PROVIDERS",
                "TESTUM_OIDC_AUTO_CREATE",
            ];
            let read = global.contains(&name.as_str())
                || providers.iter().any(|p| {
                    let prefix =
                        format!("TESTUM_OIDC_{}_", p.name.to_uppercase().replace('-', "_"));
                    name.strip_prefix(&prefix)
                        .is_some_and(|setting| SETTINGS.contains(&setting))
                });
            if !read {
                let listed: Vec<&str> = providers.iter().map(|p| p.name.as_str()).collect();
                return Err(format!(
                    "{name}: no OIDC provider reads it (TESTUM_OIDC_PROVIDERS lists {listed:?}; \
                     a provider's settings are TESTUM_OIDC_<NAME>_{{{}}})",
                    SETTINGS.join(",")
                ));
            }
        }
        let public_url = get("TESTUM_PUBLIC_URL").map(|u| u.trim_end_matches('/').to_string());
        if !providers.is_empty() {
            match &public_url {
                None => {
                    return Err(
                        "TESTUM_PUBLIC_URL: required with TESTUM_OIDC_PROVIDERS (the \
                                redirect URI is <public URL>/ui/oidc/<name>/callback)"
                            .into(),
                    );
                }
                Some(url) => public_url_problem(url)
                    .map_or(Ok(()), |why| Err(format!("TESTUM_PUBLIC_URL: {why}")))?,
            }
        }
        Ok(OidcSettings {
            public_url,
            providers,
        })
    }
}

/// The per-provider settings (`TESTUM_OIDC_<NAME>_<SETTING>`).
const SETTINGS: [&str; 11] = [
    "ISSUER",
    "CLIENT_ID",
    "CLIENT_SECRET_FILE",
    "CLIENT_SECRET",
    "DISPLAY_NAME",
    "SCOPES",
    "USERNAME_CLAIM",
    "GROUPS_CLAIM",
    "AUTO_CREATE",
    "CA_FILE",
    "ON_ERROR",
];

/// What is wrong with `url` as the address browsers reach testum at, the base of the redirect
/// URI (RFC 6749 §3.1.2: absolute, no fragment): not `http(s)`, a query, a fragment, a user or
/// password, or plain `http` to anything but a loopback address (the sign-in code would cross
/// the network in clear text).
fn public_url_problem(url: &str) -> Option<&'static str> {
    let Ok(parsed) = url::Url::parse(url) else {
        return Some("must be a URL such as https://testum.example.com");
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        return Some("must be https:// (or http:// to a loopback address)");
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Some("must have no query or fragment");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Some("must hold no user or password");
    }
    if parsed.scheme() == "http" && !super::secure_or_loopback(&parsed) {
        return Some("must be https:// (plain http:// only to a loopback address)");
    }
    None
}

/// A provider name: what goes in `/ui/oidc/<name>/...` and in the `oidc:<name>` source.
fn valid_name(name: &str) -> bool {
    name.len() <= 32
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn boolean(key: &str, value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("{key}: {value:?} is neither true nor false")),
    }
}

/// The first line of the file at `path`, named by `key` in errors.
fn read_secret(key: &str, path: &str) -> Result<Secret, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("{key}: cannot read {path}: {e}"))?;
    let secret = text
        .lines()
        .next()
        .unwrap_or_default()
        .trim_end_matches('\r');
    if secret.is_empty() {
        return Err(format!("{key}: {path} is empty"));
    }
    Ok(Secret::new(secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<OidcSettings, String> {
        OidcSettings::from_vars(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    const CORP: [(&str, &str); 5] = [
        ("TESTUM_OIDC_PROVIDERS", "corp"),
        ("TESTUM_PUBLIC_URL", "https://testum.example.com/"),
        ("TESTUM_OIDC_CORP_ISSUER", "https://login.example.com"),
        ("TESTUM_OIDC_CORP_CLIENT_ID", "testum"),
        ("TESTUM_OIDC_CORP_CLIENT_SECRET", "s3cret"),
    ];

    #[test]
    fn nothing_set_means_no_provider() {
        let settings = parse(&[("TESTUM_PUBLIC_URL", "https://x")]).unwrap();
        assert!(settings.providers.is_empty());
    }

    #[test]
    fn a_provider_takes_its_defaults() {
        let settings = parse(&CORP).unwrap();
        assert_eq!(
            settings.public_url.as_deref(),
            Some("https://testum.example.com")
        );
        let corp = &settings.providers[0];
        assert_eq!(
            (
                corp.name.as_str(),
                corp.display_name.as_str(),
                corp.issuer.as_str()
            ),
            ("corp", "corp", "https://login.example.com")
        );
        assert_eq!(corp.client_secret.expose(), "s3cret");
        assert_eq!(corp.scopes, ["profile", "email"]);
        assert_eq!(corp.username_claim, "preferred_username");
        assert_eq!(corp.groups_claim.as_deref(), Some("groups"));
        assert!(corp.auto_create && !corp.disable_on_error);
    }

    #[test]
    fn per_provider_settings_override_the_global_ones() {
        let mut vars = CORP.to_vec();
        vars.extend([
            ("TESTUM_OIDC_AUTO_CREATE", "false"),
            ("TESTUM_OIDC_PROVIDERS", "corp,okta-eu"),
            ("TESTUM_OIDC_OKTA_EU_ISSUER", "https://okta.example.com"),
            ("TESTUM_OIDC_OKTA_EU_CLIENT_ID", "t"),
            ("TESTUM_OIDC_OKTA_EU_CLIENT_SECRET", "s"),
            ("TESTUM_OIDC_OKTA_EU_AUTO_CREATE", "yes"),
            ("TESTUM_OIDC_OKTA_EU_GROUPS_CLAIM", ""),
            ("TESTUM_OIDC_OKTA_EU_SCOPES", "openid,email groups"),
            ("TESTUM_OIDC_OKTA_EU_ON_ERROR", "disable"),
        ]);
        let settings = parse(&vars).unwrap();
        let (corp, okta) = (&settings.providers[0], &settings.providers[1]);
        assert!(!corp.auto_create);
        assert!(okta.auto_create && okta.disable_on_error);
        assert_eq!(okta.groups_claim, None);
        assert_eq!(okta.scopes, ["email", "groups"]);
    }

    #[test]
    fn each_error_names_its_variable() {
        let cases: [(&[(&str, &str)], &str); 6] = [
            (
                &[("TESTUM_OIDC_PROVIDERS", "Corp")],
                "TESTUM_OIDC_PROVIDERS: \"Corp\"",
            ),
            (&CORP[..4], "TESTUM_OIDC_CORP_CLIENT_SECRET_FILE: required"),
            (
                &[CORP[0], CORP[1], CORP[3], CORP[4]],
                "TESTUM_OIDC_CORP_ISSUER: required",
            ),
            (
                &[CORP[0], CORP[2], CORP[3], CORP[4]],
                "TESTUM_PUBLIC_URL: required",
            ),
            (
                &[
                    CORP[0],
                    CORP[1],
                    CORP[2],
                    CORP[3],
                    ("TESTUM_OIDC_CORP_CLIENT_SECRET_FILE", "/nonexistent/x"),
                ],
                "TESTUM_OIDC_CORP_CLIENT_SECRET_FILE: cannot read /nonexistent/x",
            ),
            (
                &[
                    CORP[0],
                    CORP[1],
                    CORP[2],
                    CORP[3],
                    CORP[4],
                    ("TESTUM_OIDC_AUTO_CREATE", "maybe"),
                ],
                "TESTUM_OIDC_AUTO_CREATE: \"maybe\"",
            ),
        ];
        for (vars, start) in cases {
            let e = parse(vars).unwrap_err();
            assert!(e.starts_with(start), "{e}");
        }
    }

    #[test]
    fn a_variable_no_provider_reads_is_refused() {
        for stray in [
            "TESTUM_OIDC_CORPP_SCOPES",
            "TESTUM_OIDC_CORP_USERNAME_CLAM",
            "TESTUM_OIDC_OTHER_ISSUER",
        ] {
            let mut vars = CORP.to_vec();
            vars.push((stray, "x"));
            let e = parse(&vars).unwrap_err();
            assert!(
                e.starts_with(&format!("{stray}: no OIDC provider reads it")),
                "{e}"
            );
        }
        let e = parse(&[("TESTUM_OIDC_CORP_ISSUER", "https://x")]).unwrap_err();
        assert!(
            e.starts_with(
                "TESTUM_OIDC_CORP_ISSUER: no OIDC provider reads it (TESTUM_OIDC_PROVIDERS lists []"
            ),
            "{e}"
        );
    }

    #[test]
    fn the_public_url_is_a_plain_https_base() {
        for (url, ok) in [
            ("https://testum.example.com", true),
            ("https://testum.example.com/testum", true),
            ("http://127.0.0.1:8080", true),
            ("http://localhost:8080", true),
            ("http://testum.example.com", false),
            ("https://testum.example.com/?x=1", false),
            ("https://testum.example.com/#frag", false),
            ("https://user:pw@testum.example.com", false),
            ("ftp://testum.example.com", false),
            ("testum.example.com", false),
        ] {
            let mut vars = CORP.to_vec();
            vars[1] = ("TESTUM_PUBLIC_URL", url);
            let result = parse(&vars);
            assert_eq!(result.is_ok(), ok, "{url}: {result:?}");
            if let Err(e) = result {
                assert!(e.starts_with("TESTUM_PUBLIC_URL: must"), "{e}");
                assert!(!e.contains("pw"), "the password is never repeated: {e}");
            }
        }
    }

    #[test]
    fn the_secret_file_gives_its_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "from-file\n").unwrap();
        let mut vars = CORP[..4].to_vec();
        let path = path.to_str().unwrap();
        vars.push(("TESTUM_OIDC_CORP_CLIENT_SECRET_FILE", path));
        let settings = parse(&vars).unwrap();
        assert_eq!(settings.providers[0].client_secret.expose(), "from-file");
    }
}
