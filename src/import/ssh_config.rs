//! OpenSSH client configuration (`~/.ssh/config`, ssh_config(5)): every name on a `Host` line
//! that is not a pattern (no `*`, `?`, no leading `!`) is a platform named so; its address is
//! `HostName` (`%h` stands for the name), else the name; its port `Port`, its login `User`.
//!
//! Options are looked up the way ssh does for that name: blocks are read top to bottom, every
//! `Host` block whose patterns match (a `!pattern` excludes) contributes, and the first value
//! obtained for an option wins, so a `Host *` block above a host's own block overrides it and one
//! below only fills what the host left open. Options before the first `Host` apply to all.
//! `Match` blocks are not evaluated (they test things an import cannot know); their options are
//! skipped with a note, as is `Include`. Keywords are case-insensitive; `Keyword=value` and
//! quoted values are accepted. No tags: importing from ssh_config leaves tags alone.

use super::{FileError, Note, Parsed, RawRow};

/// One `Host` block (or the options before any, or a skipped `Match` block).
#[derive(Debug, Default)]
struct Block {
    line: usize,
    /// `None`: applies to every host (options before the first `Host`); empty with `skipped`:
    /// a `Match` block.
    patterns: Option<Vec<String>>,
    skipped: bool,
    /// (lowercased keyword, value, line) of the options testum reads.
    options: Vec<(&'static str, String, usize)>,
}

impl Block {
    fn matches(&self, name: &str) -> bool {
        if self.skipped {
            return false;
        }
        let Some(patterns) = &self.patterns else {
            return true;
        };
        let mut positive = false;
        for pattern in patterns {
            match pattern.strip_prefix('!') {
                Some(negated) if glob(negated, name) => return false,
                Some(_) => {}
                None if glob(pattern, name) => positive = true,
                None => {}
            }
        }
        positive
    }
}

/// Parse an ssh client configuration (see the module documentation).
///
/// # Errors
/// [`FileError`] for a quote left open or a `Host` line without a name.
pub fn parse(content: &str) -> Result<Parsed, FileError> {
    let mut blocks = vec![Block::default()];
    let mut notes = Vec::new();
    for (index, raw) in content.lines().enumerate() {
        let line = index + 1;
        let text = raw.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let (keyword, args) = split_keyword(text).map_err(|m| FileError::new(Some(line), m))?;
        match keyword.to_ascii_lowercase().as_str() {
            "host" => {
                if args.is_empty() {
                    return Err(FileError::new(Some(line), "Host needs at least one name"));
                }
                blocks.push(Block {
                    line,
                    patterns: Some(args),
                    ..Block::default()
                });
            }
            "match" => {
                notes.push(Note {
                    line,
                    message: "Match blocks are not evaluated; the options under this one are \
                              skipped"
                        .into(),
                });
                blocks.push(Block {
                    line,
                    patterns: Some(Vec::new()),
                    skipped: true,
                    ..Block::default()
                });
            }
            "include" => notes.push(Note {
                line,
                message: "Include is not followed; import the included files separately".into(),
            }),
            other => {
                let option = match other {
                    "hostname" => "hostname",
                    "port" => "port",
                    "user" => "user",
                    _ => continue,
                };
                if let (Some(block), Some(value)) = (blocks.last_mut(), args.first()) {
                    block.options.push((option, value.clone(), line));
                }
            }
        }
    }
    let mut names: Vec<(&str, usize)> = Vec::new();
    for block in &blocks {
        for pattern in block.patterns.iter().flatten() {
            if is_concrete(pattern) && !names.iter().any(|(n, _)| n == pattern) {
                names.push((pattern, block.line));
            }
        }
    }
    let rows = names
        .iter()
        .map(|(name, line)| row(&blocks, name, *line, &mut notes).check())
        .collect();
    Ok(Parsed { rows, notes })
}

/// The row of host `name`: each option's first value from the blocks that match it.
fn row(blocks: &[Block], name: &str, line: usize, notes: &mut Vec<Note>) -> RawRow {
    let mut row = RawRow::new(line, name);
    let mut taken: Vec<(&str, usize)> = Vec::new();
    for block in blocks.iter().filter(|b| b.matches(name)) {
        let own = block
            .patterns
            .as_ref()
            .is_some_and(|p| p.iter().any(|p| p == name));
        for (option, value, at) in &block.options {
            if let Some((_, first)) = taken.iter().find(|(o, _)| o == option) {
                if own {
                    notes.push(Note {
                        line: *at,
                        message: format!(
                            "{name}: this {option} is not used; the value at line {first} \
                             comes first (ssh takes the first value obtained)"
                        ),
                    });
                }
                continue;
            }
            taken.push((option, *at));
            match *option {
                "hostname" => match expand_tokens(value, name) {
                    Ok(host) => row.host = Some(host),
                    Err(message) => row.problem("host", message),
                },
                "port" => row.port = Some(value.clone()),
                _ => row.username = Some(value.clone()),
            }
        }
    }
    if row.host.is_none() && row.problems.iter().all(|p| p.field != "host") {
        row.host = Some(name.to_string());
    }
    row
}

/// `HostName` with `%h` (the name) and `%%` expanded; other tokens are refused.
fn expand_tokens(value: &str, name: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('h') => out.push_str(name),
            Some('%') => out.push('%'),
            Some(other) => {
                return Err(format!(
                    "HostName token %{other} cannot be expanded by an import (only %h)"
                ));
            }
            None => return Err("HostName ends with a lone %".into()),
        }
    }
    Ok(out)
}

/// A name on a `Host` line that names one host rather than a pattern.
fn is_concrete(pattern: &str) -> bool {
    !pattern.starts_with('!') && !pattern.contains(['*', '?'])
}

/// ssh's pattern match: `*` any run, `?` one character; case-insensitive like ssh for host names.
fn glob(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let n: Vec<char> = name.to_lowercase().chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(c) if *c == '?' || *c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// `Keyword args...` or `Keyword=args...`; args split on whitespace, double quotes group.
fn split_keyword(text: &str) -> Result<(String, Vec<String>), String> {
    let end = text
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(text.len());
    let keyword = text[..end].to_string();
    let mut rest = text[end..].trim_start();
    if let Some(after) = rest.strip_prefix('=') {
        rest = after.trim_start();
    }
    let mut args = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quoted = false;
    for c in rest.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    args.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '#' if !quoted && !in_word => break,
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quoted {
        return Err("a quote is not closed".into());
    }
    if in_word {
        args.push(word);
    }
    Ok((keyword, args))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::Row;

    const CONFIG: &str = "\
# defaults for everything
User admin

Host web1 web2
    HostName %h.example.org
    Port 2222

Host db1
    HostName=10.0.1.1
    User postgres

Host bastion
    Hostname \"203.0.113.5\"

Match host db1 exec \"true\"
    User nobody

Host *.example.org !web2.example.org
    Port 2200

Host *
    Port 22
    User root
    HostName should-not-apply

Include ~/.ssh/more.conf
";

    #[test]
    fn hosts_with_wildcard_defaults_as_ssh_applies_them() {
        let parsed = parse(CONFIG).unwrap();
        let rows: Vec<&Row> = parsed.rows.iter().map(|r| r.as_ref().unwrap()).collect();
        type Summary<'a> = (usize, &'a str, &'a str, Option<u16>, Option<&'a str>);
        let summary: Vec<Summary> = rows
            .iter()
            .map(|r| {
                (
                    r.line,
                    r.name.as_str(),
                    r.host.as_str(),
                    r.port,
                    r.username.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                // The options before the first Host come first: User admin wins everywhere.
                (4, "web1", "web1.example.org", Some(2222), Some("admin")),
                (4, "web2", "web2.example.org", Some(2222), Some("admin")),
                (8, "db1", "10.0.1.1", Some(22), Some("admin")),
                (12, "bastion", "203.0.113.5", Some(22), Some("admin")),
            ]
        );
        assert!(rows.iter().all(|r| r.tags.is_none()));
        let notes: Vec<(usize, &str)> = parsed
            .notes
            .iter()
            .map(|n| (n.line, n.message.as_str()))
            .collect();
        assert!(
            notes.iter().any(|(l, m)| *l == 15 && m.contains("Match")),
            "{notes:?}"
        );
        assert!(
            notes.iter().any(|(l, m)| *l == 26 && m.contains("Include")),
            "{notes:?}"
        );
        assert!(
            notes.iter().any(|(l, m)| *l == 10 && m.contains("line 2")),
            "{notes:?}"
        );
    }

    #[test]
    fn a_wildcard_block_above_wins_and_one_below_fills_in() {
        let parsed = parse(
            "Host *.prod\n  Port 2022\nHost a.prod b\n  Port 22\n  User deploy\nHost *\n  User root\n  Port 23\n",
        )
        .unwrap();
        let a = parsed.rows[0].as_ref().unwrap();
        assert_eq!(
            (a.name.as_str(), a.port, a.username.as_deref()),
            ("a.prod", Some(2022), Some("deploy"))
        );
        let b = parsed.rows[1].as_ref().unwrap();
        assert_eq!((b.port, b.username.as_deref()), (Some(22), Some("deploy")));
    }

    #[test]
    fn bad_values_name_the_host_line_and_field() {
        let parsed = parse("Host ok bad\n  Port 22\nHost bad\n  HostName -oProxyCommand=x\nHost p\n  Port 0\nHost t\n  HostName %u.x\n").unwrap();
        assert!(parsed.rows[0].is_ok());
        let bad = parsed.rows[1].as_ref().unwrap_err();
        assert_eq!((bad.line, bad.errors[0].field.as_str()), (1, "host"));
        let p = parsed.rows[2].as_ref().unwrap_err();
        assert_eq!((p.line, p.errors[0].field.as_str()), (5, "port"));
        let t = parsed.rows[3].as_ref().unwrap_err();
        assert_eq!((t.line, t.errors[0].field.as_str()), (7, "host"));
        assert!(parse("Host\n").is_err());
        assert!(parse("Host \"open\n").is_err());
    }

    #[test]
    fn patterns() {
        assert!(glob("*.example.org", "web.Example.org"));
        assert!(glob("web?", "web1"));
        assert!(!glob("web?", "web12"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b*c", "aXXbYY"));
        assert!(is_concrete("web1") && !is_concrete("web*") && !is_concrete("!x"));
    }
}
