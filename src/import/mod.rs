//! Bulk import of platforms: pure parsers (no I/O) from the formats fleets are already described
//! in, each turning a file's text into rows `{line, name, host, port?, username?, tags?}` checked
//! with the rules of `POST /api/platforms` ([`crate::validate`]), or a per-row error naming the
//! row and field.
//!
//! Formats, one module each:
//! - [`from_csv`]: CSV with a header `name,host,port,username,tags` (tags separated by spaces or
//!   `;`);
//! - [`from_json`]: a list of objects with the same fields (or `{"items": [...]}` as
//!   `GET /api/platforms` answers);
//! - [`ansible_ini`] and [`ansible_yaml`]: Ansible inventories (groups become tags,
//!   `ansible_host`, `ansible_port`, `ansible_user`), resolved by [`ansible`];
//! - [`ssh_config`]: an OpenSSH client config (`Host`, `HostName`, `Port`, `User`, wildcard
//!   blocks as defaults the way ssh applies them).
//!
//! `line` is the 1-based line of the file where the row starts (for JSON: the object's 1-based
//! position in the list). A field a format does not carry is `None` ("leave as is / use the
//! batch default"), never an empty value: e.g. ssh_config rows have no tags, so an import from it
//! does not touch tags of existing platforms.

pub mod ansible;
pub mod ansible_ini;
pub mod ansible_yaml;
pub mod from_csv;
pub mod from_json;
pub mod key_lines;
pub mod ssh_config;

use std::collections::HashMap;

use serde::Serialize;

use crate::validate;

/// Most rows one import takes (the request body limit, 1 MiB, is usually reached first).
pub const MAX_ROWS: usize = 20_000;

crate::words! {
    /// The format of an import's `content`.
    pub enum Format {
        /// CSV with a header row.
        Csv => "csv",
        /// A JSON list of objects.
        Json => "json",
        /// Ansible inventory, INI form.
        AnsibleIni => "ansible_ini",
        /// Ansible inventory, YAML form.
        AnsibleYaml => "ansible_yaml",
        /// OpenSSH client configuration (`~/.ssh/config`).
        SshConfig => "ssh_config",
    }
}

/// A platform row as read from a file and checked: `host` normalised ([`validate::host`]),
/// `tags` deduplicated. `None` means the file does not say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// Where the row starts (see the module documentation).
    pub line: usize,
    pub name: String,
    pub host: String,
    pub port: Option<u16>,
    pub username: Option<String>,
    pub tags: Option<Vec<String>>,
}

/// One field of a row that is wrong; `field` is empty when the whole row is (e.g. a CSV record
/// with too many fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowFieldError {
    pub field: String,
    pub message: String,
}

/// A row that cannot be imported: where it is, its name when one could be read, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    pub line: usize,
    pub name: Option<String>,
    pub errors: Vec<RowFieldError>,
}

/// Something the parser did not use but the operator should know (a skipped `Match` block,
/// ignored fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Note {
    /// 1-based line (JSON: item position); 0 for the file as a whole.
    pub line: usize,
    pub message: String,
}

/// A file that cannot be read at all (not CSV, no header, not a JSON list, YAML that does not
/// parse): nothing in it is imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct FileError {
    pub line: Option<usize>,
    pub message: String,
}

impl FileError {
    fn new(line: Option<usize>, message: impl Into<String>) -> FileError {
        FileError {
            line,
            message: message.into(),
        }
    }
}

/// What a parser read: every row in file order, each checked or refused, and notes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    pub rows: Vec<Result<Row, RowError>>,
    pub notes: Vec<Note>,
}

/// A row as a parser collects it, before the checks: raw text, plus problems the parser itself
/// found (e.g. conflicting values of one Ansible host).
#[derive(Debug, Clone, Default)]
pub(crate) struct RawRow {
    pub line: usize,
    pub name: String,
    pub host: Option<String>,
    pub port: Option<String>,
    pub username: Option<String>,
    pub tags: Option<Vec<String>>,
    pub problems: Vec<RowFieldError>,
}

impl RawRow {
    pub fn new(line: usize, name: impl Into<String>) -> RawRow {
        RawRow {
            line,
            name: name.into(),
            ..RawRow::default()
        }
    }

    pub fn problem(&mut self, field: &str, message: impl Into<String>) {
        self.problems.push(RowFieldError {
            field: field.to_string(),
            message: message.into(),
        });
    }

    /// Check every field with the rules of `POST /api/platforms`.
    pub fn check(mut self) -> Result<Row, RowError> {
        let name = match validate::name(&self.name) {
            Ok(name) => Some(name),
            Err(e) => {
                self.problem("name", e);
                None
            }
        };
        let host = match self.host.as_deref().map(str::trim) {
            None | Some("") => {
                self.problem("host", "is required");
                None
            }
            Some(text) => match validate::host(text) {
                Ok(host) => Some(host),
                Err(e) => {
                    self.problem("host", e);
                    None
                }
            },
        };
        let port = match self
            .port
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            None => Some(None),
            Some(text) => match text
                .parse::<i64>()
                .map_err(|_| ())
                .and_then(|p| validate::port(p).map_err(|_| ()))
            {
                Ok(port) => Some(Some(port)),
                Err(()) => {
                    self.problem("port", "must be a number from 1 to 65535");
                    None
                }
            },
        };
        let username = match self
            .username
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
        {
            None => Some(None),
            Some(text) => match validate::username(text) {
                Ok(username) => Some(Some(username)),
                Err(e) => {
                    self.problem("username", e);
                    None
                }
            },
        };
        let tags = match &self.tags {
            None => Some(None),
            Some(tags) => match validate::tags(tags) {
                Ok(tags) => Some(Some(tags)),
                Err(e) => {
                    self.problem("tags", e);
                    None
                }
            },
        };
        match (name, host, port, username, tags) {
            (Some(name), Some(host), Some(port), Some(username), Some(tags))
                if self.problems.is_empty() =>
            {
                Ok(Row {
                    line: self.line,
                    name,
                    host,
                    port,
                    username,
                    tags,
                })
            }
            _ => Err(RowError {
                line: self.line,
                name: Some(self.name.trim().to_string()).filter(|n| !n.is_empty()),
                errors: self.problems,
            }),
        }
    }
}

/// Parse `content` as `format`: every row checked, a name used twice refused from its second
/// row on.
///
/// # Errors
/// [`FileError`] when the file as a whole cannot be read, or holds more than [`MAX_ROWS`] rows.
pub fn parse(format: Format, content: &str) -> Result<Parsed, FileError> {
    let content = content.strip_prefix('\u{FEFF}').unwrap_or(content);
    let mut parsed = match format {
        Format::Csv => from_csv::parse(content)?,
        Format::Json => from_json::parse(content)?,
        Format::AnsibleIni => ansible_ini::parse(content)?,
        Format::AnsibleYaml => ansible_yaml::parse(content)?,
        Format::SshConfig => ssh_config::parse(content)?,
    };
    if parsed.rows.len() > MAX_ROWS {
        return Err(FileError::new(
            None,
            format!(
                "holds {} rows; one import takes at most {MAX_ROWS}: split the file",
                parsed.rows.len()
            ),
        ));
    }
    refuse_repeated_names(&mut parsed.rows);
    Ok(parsed)
}

/// A second row with a name already used by an earlier row is refused (the first one stays).
fn refuse_repeated_names(rows: &mut [Result<Row, RowError>]) {
    let mut first: HashMap<String, usize> = HashMap::new();
    for slot in rows.iter_mut() {
        let Ok(row) = slot else { continue };
        if let Some(line) = first.get(&row.name) {
            *slot = Err(RowError {
                line: row.line,
                name: Some(row.name.clone()),
                errors: vec![RowFieldError {
                    field: "name".into(),
                    message: format!("is already used by the row at line {line}"),
                }],
            });
        } else {
            first.insert(row.name.clone(), row.line);
        }
    }
}

/// The format of a file named `file_name` (by its extension), else guessed from `content`.
///
/// Extensions: `.csv`, `.json`, `.ini`, `.yml`/`.yaml`, `.conf` or a name `config` (ssh).
/// Content: `[` or `{` first → JSON; a first `Host`/`Match` keyword line → ssh_config; a
/// `[group]` line → Ansible INI; a line `all:` or `key:` → Ansible YAML; a comma in the first
/// line → CSV. `None` when nothing fits.
pub fn detect(file_name: Option<&str>, content: &str) -> Option<Format> {
    if let Some(name) = file_name {
        let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
        let ext = base
            .rsplit_once('.')
            .map(|(_, ext)| ext.to_ascii_lowercase());
        match ext.as_deref() {
            Some("csv") => return Some(Format::Csv),
            Some("json") => return Some(Format::Json),
            Some("ini") => return Some(Format::AnsibleIni),
            Some("yml" | "yaml") => return Some(Format::AnsibleYaml),
            Some("conf") => return Some(Format::SshConfig),
            _ if base == "config" || base == "ssh_config" => return Some(Format::SshConfig),
            _ => {}
        }
    }
    let content = content.strip_prefix('\u{FEFF}').unwrap_or(content);
    let meaningful = content
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'));
    let lines: Vec<&str> = meaningful.take(50).collect();
    let first = lines.first()?;
    if first.starts_with('[') && !first.contains(']') || first.starts_with('{') {
        return Some(Format::Json);
    }
    if first.starts_with("[{") || first == &"[" {
        return Some(Format::Json);
    }
    let keyword = |line: &str| {
        let word = line
            .split(|c: char| c.is_whitespace() || c == '=')
            .next()
            .unwrap_or("");
        word.eq_ignore_ascii_case("host") || word.eq_ignore_ascii_case("match")
    };
    if lines.iter().any(|l| keyword(l)) {
        return Some(Format::SshConfig);
    }
    if lines.iter().any(|l| l.starts_with('[') && l.ends_with(']')) {
        return Some(Format::AnsibleIni);
    }
    if lines
        .iter()
        .any(|l| *l == "all:" || l.starts_with("---") || l.ends_with(':'))
    {
        return Some(Format::AnsibleYaml);
    }
    if first.contains(',') {
        return Some(Format::Csv);
    }
    None
}

/// Tags written in one text field: separated by whitespace, `;` or `,`; empty pieces dropped.
pub(crate) fn split_tags(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || c == ';' || c == ',')
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_use_the_platform_rules() {
        let mut raw = RawRow::new(3, "web 1");
        raw.host = Some("Web1.Example.org".into());
        raw.port = Some("2222".into());
        raw.username = Some("deploy".into());
        raw.tags = Some(vec!["web".into(), "env=prod".into(), "web".into()]);
        assert_eq!(
            raw.check().unwrap(),
            Row {
                line: 3,
                name: "web 1".into(),
                host: "web1.example.org".into(),
                port: Some(2222),
                username: Some("deploy".into()),
                tags: Some(vec!["web".into(), "env=prod".into()]),
            }
        );
        let mut bad = RawRow::new(4, "db");
        bad.host = Some("-oProxyCommand=x".into());
        bad.port = Some("70000".into());
        bad.username = Some("root;rm".into());
        let err = bad.check().unwrap_err();
        assert_eq!(err.line, 4);
        assert_eq!(err.name.as_deref(), Some("db"));
        let fields: Vec<&str> = err.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["host", "port", "username"]);
        let missing = RawRow::new(5, "x").check().unwrap_err();
        assert_eq!(missing.errors[0].field, "host");
        assert_eq!(missing.errors[0].message, "is required");
    }

    #[test]
    fn a_repeated_name_is_refused_from_its_second_row() {
        let parsed = parse(Format::Csv, "name,host\na,h1\nb,h2\na,h3\n").unwrap();
        assert!(parsed.rows[0].is_ok() && parsed.rows[1].is_ok());
        let err = parsed.rows[2].as_ref().unwrap_err();
        assert_eq!((err.line, err.errors[0].field.as_str()), (4, "name"));
        assert!(err.errors[0].message.contains("line 2"), "{err:?}");
    }

    #[test]
    fn formats_are_detected_by_extension_then_content() {
        assert_eq!(detect(Some("hosts.CSV"), ""), Some(Format::Csv));
        assert_eq!(
            detect(Some("/x/inventory.yml"), ""),
            Some(Format::AnsibleYaml)
        );
        assert_eq!(
            detect(Some("/home/a/.ssh/config"), ""),
            Some(Format::SshConfig)
        );
        assert_eq!(detect(None, "  [\n {\"name\": 1}]"), Some(Format::Json));
        assert_eq!(detect(None, "[{\"name\": 1}]"), Some(Format::Json));
        assert_eq!(
            detect(None, "# c\nHost web\n  User x"),
            Some(Format::SshConfig)
        );
        assert_eq!(
            detect(None, "[web]\nweb1 ansible_host=h"),
            Some(Format::AnsibleIni)
        );
        assert_eq!(detect(None, "all:\n  hosts:\n"), Some(Format::AnsibleYaml));
        assert_eq!(detect(None, "name,host\nweb,h"), Some(Format::Csv));
        assert_eq!(detect(None, "just words"), None);
        assert_eq!(
            detect(Some("inventory"), "[web]\nweb1"),
            Some(Format::AnsibleIni)
        );
    }

    #[test]
    fn tags_split_on_spaces_semicolons_and_commas() {
        assert_eq!(
            split_tags(" web;db  env=prod,x "),
            ["web", "db", "env=prod", "x"]
        );
        assert!(split_tags(" ; ").is_empty());
    }
}
