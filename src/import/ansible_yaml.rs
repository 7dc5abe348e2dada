//! Ansible inventory, YAML form: a tree of groups, each with `hosts` (hostname → its variables
//! or nothing), `vars` and `children` (group name → group), under `all` and/or other top-level
//! groups. Host ranges and variable resolution as in [`super::ansible`]. A row's `line` is the
//! line where its host is first listed (found by name in the text, as YAML values carry no
//! position).

use std::collections::BTreeMap;

use serde_yaml_ng::Value;

use super::ansible::{self, ALL, Field, Inventory};
use super::{FileError, Note, Parsed};

/// Parse a YAML inventory (see the module documentation).
///
/// # Errors
/// [`FileError`] when the text is not YAML, or not a mapping of groups.
pub fn parse(content: &str) -> Result<Parsed, FileError> {
    let value: Value = serde_yaml_ng::from_str(content).map_err(|e| {
        FileError::new(
            e.location().map(|l| l.line()),
            format!("not YAML: {}", first_line(&e.to_string())),
        )
    })?;
    let mut reader = Reader {
        lines: content.lines().collect(),
        cursor: 0,
        inventory: Inventory::default(),
    };
    match value {
        Value::Null => {}
        Value::Mapping(groups) => {
            for (name, body) in groups {
                let name = key_text(&name)
                    .ok_or_else(|| FileError::new(None, "a group name must be text"))?;
                reader.group(&name, body)?;
            }
        }
        _ => {
            return Err(FileError::new(
                None,
                "must be a mapping of groups (all: {hosts: ..., children: ..., vars: ...})",
            ));
        }
    }
    Ok(reader.inventory.rows())
}

struct Reader<'a> {
    lines: Vec<&'a str>,
    /// Index of the line after the last host found: hosts are visited in document order.
    cursor: usize,
    inventory: Inventory,
}

impl Reader<'_> {
    fn group(&mut self, name: &str, body: Value) -> Result<(), FileError> {
        self.inventory.group(name);
        let body = match body {
            Value::Null => return Ok(()),
            Value::Mapping(body) => body,
            _ => {
                return Err(FileError::new(
                    None,
                    format!("group {name:?} must be a mapping (hosts, children, vars)"),
                ));
            }
        };
        for (key, value) in body {
            match key_text(&key).as_deref() {
                Some("hosts") => self.hosts(name, value)?,
                Some("vars") => self.group_vars(name, value)?,
                Some("children") => match value {
                    Value::Null => {}
                    Value::Mapping(children) => {
                        for (child, child_body) in children {
                            let child = key_text(&child)
                                .ok_or_else(|| FileError::new(None, "a group name must be text"))?;
                            if name != ALL {
                                self.inventory.group(name).children.insert(child.clone());
                            }
                            self.group(&child, child_body)?;
                        }
                    }
                    _ => {
                        return Err(FileError::new(
                            None,
                            format!("children of group {name:?} must be a mapping of groups"),
                        ));
                    }
                },
                other => self.inventory.notes.push(Note {
                    line: 0,
                    message: format!(
                        "group {name:?}: key {:?} ignored (a group has hosts, children, vars)",
                        other.unwrap_or("?")
                    ),
                }),
            }
        }
        Ok(())
    }

    fn hosts(&mut self, group: &str, value: Value) -> Result<(), FileError> {
        let hosts = match value {
            Value::Null => return Ok(()),
            Value::Mapping(hosts) => hosts,
            _ => {
                return Err(FileError::new(
                    None,
                    format!("hosts of group {group:?} must be a mapping (hostname: variables)"),
                ));
            }
        };
        for (pattern, vars) in hosts {
            let pattern = key_text(&pattern)
                .ok_or_else(|| FileError::new(None, "a host name must be text"))?;
            let line = self.find(&pattern);
            let mut problems = Vec::new();
            let mut fields = BTreeMap::new();
            match vars {
                Value::Null => {}
                Value::Mapping(vars) => {
                    for (key, value) in vars {
                        let Some(field) = key_text(&key).as_deref().and_then(Field::of) else {
                            continue;
                        };
                        match scalar(&value) {
                            Some(text) => {
                                fields.insert(field, text);
                            }
                            None => problems.push((
                                field_name(field).to_string(),
                                "must be a string or a number".to_string(),
                            )),
                        }
                    }
                }
                _ => problems.push((
                    String::new(),
                    "a host's value must be its variables (a mapping) or empty".to_string(),
                )),
            }
            ansible::add_hosts(&mut self.inventory, line, &pattern, group, fields, problems)?;
        }
        Ok(())
    }

    fn group_vars(&mut self, group: &str, value: Value) -> Result<(), FileError> {
        let vars = match value {
            Value::Null => return Ok(()),
            Value::Mapping(vars) => vars,
            _ => {
                return Err(FileError::new(
                    None,
                    format!("vars of group {group:?} must be a mapping"),
                ));
            }
        };
        for (key, value) in vars {
            let Some(field) = key_text(&key).as_deref().and_then(Field::of) else {
                continue;
            };
            match scalar(&value) {
                Some(text) => {
                    self.inventory.group(group).vars.insert(field, (text, 0));
                }
                None => self.inventory.notes.push(Note {
                    line: 0,
                    message: format!(
                        "group {group:?}: {} is not a string or a number; ignored",
                        field_name(field)
                    ),
                }),
            }
        }
        Ok(())
    }

    /// The 1-based line where `pattern` is next written as a mapping key, searching from the
    /// cursor (then from the top); the cursor's line when it is not found.
    fn find(&mut self, pattern: &str) -> usize {
        let is_key = |line: &str| {
            let text = line.trim_start();
            let text = text.strip_prefix("? ").unwrap_or(text);
            [
                pattern.to_string(),
                format!("{pattern:?}"),
                format!("'{pattern}'"),
            ]
            .iter()
            .any(|k| {
                text.strip_prefix(k.as_str())
                    .is_some_and(|rest| rest.trim_start().starts_with(':'))
            })
        };
        let found = (self.cursor..self.lines.len())
            .chain(0..self.cursor)
            .find(|i| is_key(self.lines[*i]));
        match found {
            Some(i) => {
                self.cursor = i + 1;
                i + 1
            }
            None => self.cursor.max(1),
        }
    }
}

fn field_name(field: Field) -> &'static str {
    match field {
        Field::Host => "host",
        Field::Port => "port",
        Field::User => "username",
    }
}

/// A mapping key as text (YAML allows numbers as keys: `10.0.0.1` stays text, `22` becomes
/// "22").
fn key_text(key: &Value) -> Option<String> {
    scalar(key)
}

/// A string or number as text.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVENTORY: &str = "\
all:
  vars:
    ansible_user: root
  hosts:
    bastion:
      ansible_host: 203.0.113.5
  children:
    prod:
      vars:
        ansible_user: ops
      children:
        web:
          hosts:
            web1:
              ansible_host: 10.0.0.1
              ansible_port: 2222
            web[2:3]:
        db:
          vars:
            ansible_port: 5022
          hosts:
            db1:
              ansible_host: -bad
            'db2':
              ansible_user: postgres
";

    #[test]
    fn tree_of_groups_with_tags_variables_and_lines() {
        let parsed = parse(INVENTORY).unwrap();
        let rows = &parsed.rows;
        assert_eq!(rows.len(), 6, "{rows:?}");
        let bastion = rows[0].as_ref().unwrap();
        assert_eq!(
            (
                bastion.line,
                bastion.host.as_str(),
                bastion.username.as_deref()
            ),
            (5, "203.0.113.5", Some("root"))
        );
        assert_eq!(bastion.tags.as_deref().unwrap(), [] as [String; 0]);
        let web1 = rows[1].as_ref().unwrap();
        assert_eq!(
            (web1.line, web1.port, web1.username.as_deref()),
            (14, Some(2222), Some("ops"))
        );
        assert_eq!(web1.tags.as_deref().unwrap(), ["web", "prod"]);
        let web3 = rows[3].as_ref().unwrap();
        assert_eq!(
            (web3.name.as_str(), web3.host.as_str(), web3.line),
            ("web3", "web3", 17)
        );
        let db1 = rows[4].as_ref().unwrap_err();
        assert_eq!((db1.line, db1.errors[0].field.as_str()), (22, "host"));
        let db2 = rows[5].as_ref().unwrap();
        assert_eq!(
            (db2.line, db2.port, db2.username.as_deref()),
            (24, Some(5022), Some("postgres"))
        );
        assert_eq!(db2.tags.as_deref().unwrap(), ["db", "prod"]);
    }

    #[test]
    fn top_level_groups_besides_all_and_bad_shapes() {
        let parsed = parse("web:\n  hosts:\n    w1:\n    w2: {ansible_port: [1]}\n").unwrap();
        let w1 = parsed.rows[0].as_ref().unwrap();
        assert_eq!(
            (w1.line, w1.tags.as_deref().unwrap()),
            (3, &["web".to_string()][..])
        );
        let w2 = parsed.rows[1].as_ref().unwrap_err();
        assert_eq!((w2.line, w2.errors[0].field.as_str()), (4, "port"));
        assert!(parse("- a\n- b\n").is_err());
        let e = parse("all:\n  hosts: [a\n").unwrap_err();
        assert!(e.line.is_some(), "{e:?}");
        assert!(parse("").unwrap().rows.is_empty());
    }
}
