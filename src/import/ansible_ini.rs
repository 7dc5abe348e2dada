//! Ansible inventory, INI form: `[group]` sections of host lines
//! (`web1 ansible_host=10.0.0.1 ansible_port=2222 ansible_user=deploy`, or `web1:2222`),
//! `[group:children]` (child group names) and `[group:vars]` (`key=value`). Hosts before any
//! section are `ungrouped`. Comments start with `#` or `;` at the start of a line, or `#` after a
//! host line's fields. Values may be quoted. How hosts become rows: [`super::ansible`].

use std::collections::BTreeMap;

use super::ansible::{self, Field, Inventory, UNGROUPED};
use super::{FileError, Note, Parsed};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Hosts,
    Children,
    Vars,
}

/// Parse an INI inventory (see the module documentation).
///
/// # Errors
/// [`FileError`] for a section header that is not `[name]`, `[name:children]` or
/// `[name:vars]`, or a quote left open in a header or children line.
pub fn parse(content: &str) -> Result<Parsed, FileError> {
    let mut inventory = Inventory::default();
    let mut group = UNGROUPED.to_string();
    let mut section = Section::Hosts;
    for (index, raw) in content.lines().enumerate() {
        let line = index + 1;
        let text = raw.trim();
        if text.is_empty() || text.starts_with('#') || text.starts_with(';') {
            continue;
        }
        if text.starts_with('[') {
            (group, section) = header(text).map_err(|m| FileError::new(Some(line), m))?;
            inventory.group(&group);
            continue;
        }
        match section {
            Section::Hosts => host_line(&mut inventory, line, text, &group)?,
            Section::Children => {
                let words = tokens(text).map_err(|m| FileError::new(Some(line), m))?;
                if let Some(child) = words.first() {
                    inventory.group(child);
                    inventory.group(&group).children.insert(child.clone());
                }
            }
            Section::Vars => vars_line(&mut inventory, line, text, &group),
        }
    }
    Ok(inventory.rows())
}

/// `[name]`, `[name:children]` or `[name:vars]` (a trailing comment allowed).
fn header(text: &str) -> Result<(String, Section), String> {
    let inside = text
        .strip_prefix('[')
        .and_then(|t| t.split_once(']'))
        .filter(|(_, rest)| {
            let rest = rest.trim();
            rest.is_empty() || rest.starts_with('#') || rest.starts_with(';')
        })
        .map(|(inside, _)| inside.trim())
        .ok_or("a section header must be [group], [group:children] or [group:vars]")?;
    let (name, section) = match inside.rsplit_once(':') {
        Some((name, "children")) => (name, Section::Children),
        Some((name, "vars")) => (name, Section::Vars),
        Some((_, kind)) => {
            return Err(format!(
                "section type {kind:?} is not children or vars (a section header is [group], \
                 [group:children] or [group:vars])"
            ));
        }
        None => (inside, Section::Hosts),
    };
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err("a group name must be one word".into());
    }
    Ok((name.to_string(), section))
}

/// A host line: the host (pattern, maybe `:port`), then `key=value` fields.
fn host_line(
    inventory: &mut Inventory,
    line: usize,
    text: &str,
    group: &str,
) -> Result<(), FileError> {
    let mut problems = Vec::new();
    let words = match tokens(text) {
        Ok(words) => words,
        Err(message) => {
            problems.push((String::new(), message));
            text.split_whitespace().map(str::to_string).collect()
        }
    };
    let Some((pattern, fields)) = words.split_first() else {
        return Ok(());
    };
    let mut vars = BTreeMap::new();
    let (pattern, port) = split_port(pattern);
    if let Some(port) = port {
        vars.insert(Field::Port, port.to_string());
    }
    for field in fields {
        match field.split_once('=') {
            Some((key, value)) => {
                if let Some(f) = Field::of(key) {
                    vars.insert(f, value.to_string());
                }
            }
            None => problems.push((
                String::new(),
                format!(
                    "expected key=value after the host name, found {:?}",
                    field.chars().take(40).collect::<String>()
                ),
            )),
        }
    }
    ansible::add_hosts(inventory, line, pattern, group, vars, problems)
}

/// `name:port` → (`name`, `port`); a colon inside a range or more than one (an IPv6 address)
/// is not a port.
fn split_port(pattern: &str) -> (&str, Option<&str>) {
    let tail = pattern.rfind(']').map_or(0, |i| i + 1);
    let rest = &pattern[tail..];
    match rest.find(':') {
        Some(i) if rest.matches(':').count() == 1 => {
            let at = tail + i;
            (&pattern[..at], Some(&pattern[at + 1..]))
        }
        _ => (pattern, None),
    }
}

/// `key=value` (spaces around `=` allowed) in a `[group:vars]` section; a line that is not one is
/// noted and skipped.
fn vars_line(inventory: &mut Inventory, line: usize, text: &str, group: &str) {
    let Some((key, value)) = text.split_once('=') else {
        inventory.notes.push(Note {
            line,
            message: format!("not key=value in [{group}:vars]; skipped"),
        });
        return;
    };
    let Some(field) = Field::of(key.trim()) else {
        return;
    };
    match tokens(value) {
        Ok(words) => {
            inventory
                .group(group)
                .vars
                .insert(field, (words.join(" "), line));
        }
        Err(message) => inventory.notes.push(Note {
            line,
            message: format!("{message}; skipped"),
        }),
    }
}

/// Split a line into words: whitespace separates, single or double quotes group, a `#` at the
/// start of a word begins a comment.
fn tokens(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => word.push(c),
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            None if c == '#' && !in_word => break,
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                in_word = true;
            }
            None => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("a quote is not closed".into());
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::Row;

    const INVENTORY: &str = "\
# fleet
bastion ansible_host=203.0.113.5

[web]
web1 ansible_host=10.0.0.1 ansible_port=2222 ansible_user=deploy
web[02:03].example.org   # two more

[db]
db1:2200 ansible_user='pg admin'
db2 ansible_host=\"10.0.1.2\"

[prod:children]
web
db

[prod:vars]
ansible_user=ops

[db:vars]
ansible_port = 5022

[all:vars]
ansible_user=root
";

    fn rows(text: &str) -> Vec<Result<Row, crate::import::RowError>> {
        parse(text).unwrap().rows
    }

    #[test]
    fn hosts_groups_as_tags_and_variables() {
        let rows = rows(INVENTORY);
        let names: Vec<String> = rows
            .iter()
            .map(|r| match r {
                Ok(r) => r.name.clone(),
                Err(e) => e.name.clone().unwrap(),
            })
            .collect();
        assert_eq!(
            names,
            [
                "bastion",
                "web1",
                "web02.example.org",
                "web03.example.org",
                "db1",
                "db2"
            ]
        );
        let bastion = rows[0].as_ref().unwrap();
        assert_eq!(bastion.host, "203.0.113.5");
        assert_eq!(bastion.username.as_deref(), Some("root"));
        assert_eq!(bastion.tags.as_deref().unwrap(), [] as [String; 0]);
        let web1 = rows[1].as_ref().unwrap();
        assert_eq!(
            (
                web1.line,
                web1.host.as_str(),
                web1.port,
                web1.username.as_deref()
            ),
            (5, "10.0.0.1", Some(2222), Some("deploy"))
        );
        assert_eq!(web1.tags.as_deref().unwrap(), ["web", "prod"]);
        let web2 = rows[2].as_ref().unwrap();
        assert_eq!(
            (
                web2.line,
                web2.host.as_str(),
                web2.port,
                web2.username.as_deref()
            ),
            (6, "web02.example.org", None, Some("ops"))
        );
        // A bad username is the row's problem, named with its field.
        let db1 = rows[4].as_ref().unwrap_err();
        assert_eq!((db1.line, db1.errors[0].field.as_str()), (9, "username"));
        let db2 = rows[5].as_ref().unwrap();
        assert_eq!((db2.host.as_str(), db2.port), ("10.0.1.2", Some(5022)));
        assert_eq!(db2.tags.as_deref().unwrap(), ["db", "prod"]);
    }

    #[test]
    fn a_host_in_two_groups_is_one_row_and_disagreeing_values_refuse_it() {
        let rows =
            rows("[a]\nh1 ansible_port=22\n[b]\nh1\nh2 ansible_port=x\n[c]\nh1 ansible_port=23\n");
        assert_eq!(rows.len(), 2);
        let h1 = rows[0].as_ref().unwrap_err();
        assert_eq!((h1.line, h1.errors[0].field.as_str()), (2, "port"));
        assert!(h1.errors[0].message.contains("line 7"), "{h1:?}");
        let h2 = rows[1].as_ref().unwrap_err();
        assert_eq!((h2.line, h2.errors[0].field.as_str()), (5, "port"));
        let ok = parse("[a]\nh1 ansible_port=22\n[b]\nh1\n").unwrap().rows;
        assert_eq!(ok[0].as_ref().unwrap().tags.as_deref().unwrap(), ["a", "b"]);
    }

    #[test]
    fn bad_host_is_refused_by_line() {
        let rows = rows("[web]\nweb1 ansible_host=-oProxyCommand=x\nweb2 ansible_host=h\n");
        let e = rows[0].as_ref().unwrap_err();
        assert_eq!((e.line, e.errors[0].field.as_str()), (2, "host"));
        assert!(rows[1].is_ok());
    }

    #[test]
    fn bad_headers_refuse_the_file() {
        assert!(parse("[web:hosts]\nx\n").is_err());
        assert!(parse("[web\nx\n").is_err());
        assert!(parse("[web]\nx ansible_host=\"open\n").unwrap().rows[0].is_err());
    }

    #[test]
    fn ports_after_the_name() {
        assert_eq!(split_port("h:22"), ("h", Some("22")));
        assert_eq!(split_port("w[1:3]:22"), ("w[1:3]", Some("22")));
        assert_eq!(split_port("w[1:3]"), ("w[1:3]", None));
        assert_eq!(split_port("fe80::1"), ("fe80::1", None));
    }
}
