//! JSON: a list of objects `{"name", "host", "port"?, "username"?, "tags"?}`, or an object with
//! such a list under `items` (what `GET /api/platforms` answers, so one testum's list imports
//! into another). `port` is a number or a string of digits; `tags` a list of strings or one
//! string separated by spaces, `;` or `,`. Other fields are ignored and named in a note. A row's
//! `line` is the object's 1-based position in the list.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{FileError, Note, Parsed, RawRow, split_tags};

const FIELDS: [&str; 5] = ["name", "host", "port", "username", "tags"];

/// Parse JSON text (see the module documentation).
///
/// # Errors
/// [`FileError`] when the text is not JSON, or not a list (nor an object with an `items` list).
pub fn parse(content: &str) -> Result<Parsed, FileError> {
    let value: Value = serde_json::from_str(content)
        .map_err(|e| FileError::new(Some(e.line()), format!("not JSON: {e}")))?;
    let items = match value {
        Value::Array(items) => items,
        Value::Object(mut object) => match object.remove("items") {
            Some(Value::Array(items)) => items,
            _ => {
                return Err(FileError::new(
                    None,
                    "must be a list of platform objects (or an object with an \"items\" list)",
                ));
            }
        },
        _ => return Err(FileError::new(None, "must be a list of platform objects")),
    };
    let mut parsed = Parsed::default();
    let mut ignored = BTreeSet::new();
    for (index, item) in items.into_iter().enumerate() {
        let position = index + 1;
        let Value::Object(object) = item else {
            let mut row = RawRow::new(position, "");
            row.problem("", "must be an object {\"name\", \"host\", ...}");
            parsed.rows.push(row.check());
            continue;
        };
        let mut row = RawRow::new(position, "");
        for key in object.keys().filter(|k| !FIELDS.contains(&k.as_str())) {
            ignored.insert(key.clone());
        }
        match object.get("name") {
            Some(Value::String(name)) => row.name = name.clone(),
            None | Some(Value::Null) => {}
            Some(_) => row.problem("name", "must be a string"),
        }
        match object.get("host") {
            Some(Value::String(host)) => row.host = Some(host.clone()),
            None | Some(Value::Null) => {}
            Some(_) => row.problem("host", "must be a string"),
        }
        match object.get("port") {
            Some(Value::Number(port)) => row.port = Some(port.to_string()),
            Some(Value::String(port)) => row.port = Some(port.clone()),
            None | Some(Value::Null) => {}
            Some(_) => row.problem("port", "must be a number from 1 to 65535"),
        }
        match object.get("username") {
            Some(Value::String(username)) => row.username = Some(username.clone()),
            None | Some(Value::Null) => {}
            Some(_) => row.problem("username", "must be a string"),
        }
        match object.get("tags") {
            Some(Value::Array(tags)) => {
                let texts: Option<Vec<String>> = tags
                    .iter()
                    .map(|t| t.as_str().map(str::to_string))
                    .collect();
                match texts {
                    Some(texts) => row.tags = Some(texts),
                    None => row.problem("tags", "must be a list of strings"),
                }
            }
            Some(Value::String(tags)) => row.tags = Some(split_tags(tags)),
            None | Some(Value::Null) => {}
            Some(_) => row.problem("tags", "must be a list of strings"),
        }
        parsed.rows.push(row.check());
    }
    if !ignored.is_empty() {
        let names: Vec<String> = ignored.into_iter().take(20).collect();
        parsed.notes.push(Note {
            line: 0,
            message: format!(
                "fields ignored (only name, host, port, username, tags are imported): {}",
                names.join(", ")
            ),
        });
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_of_objects() {
        let parsed = parse(
            r#"[
              {"name": "web1", "host": "10.0.0.1", "port": 2222, "username": "deploy",
               "tags": ["web", "env=prod"]},
              {"name": "db1", "host": "db1", "port": "22", "tags": "db backup"},
              {"name": "bad", "host": "a b"},
              {"name": "badport", "host": "h", "port": 0},
              "text"
            ]"#,
        )
        .unwrap();
        let web = parsed.rows[0].as_ref().unwrap();
        assert_eq!((web.line, web.port), (1, Some(2222)));
        assert_eq!(web.tags.as_deref().unwrap(), ["web", "env=prod"]);
        let db = parsed.rows[1].as_ref().unwrap();
        assert_eq!((db.port, db.username.as_deref()), (Some(22), None));
        assert_eq!(db.tags.as_deref().unwrap(), ["db", "backup"]);
        let bad = parsed.rows[2].as_ref().unwrap_err();
        assert_eq!((bad.line, bad.errors[0].field.as_str()), (3, "host"));
        let bad = parsed.rows[3].as_ref().unwrap_err();
        assert_eq!((bad.line, bad.errors[0].field.as_str()), (4, "port"));
        let bad = parsed.rows[4].as_ref().unwrap_err();
        assert_eq!((bad.line, bad.errors[0].field.as_str()), (5, ""));
        assert!(parsed.notes.is_empty());
    }

    #[test]
    fn an_api_list_imports_and_other_fields_are_noted() {
        let parsed = parse(
            r#"{"items": [{"id": "x", "name": "w", "host": "h", "port": 22, "username": "u",
                 "tags": [], "auth_method": "password"}], "next_cursor": null}"#,
        )
        .unwrap();
        assert!(parsed.rows[0].is_ok());
        assert_eq!(parsed.notes.len(), 1);
        assert!(parsed.notes[0].message.contains("auth_method, id"));
    }

    #[test]
    fn not_a_list_is_a_file_error() {
        assert!(parse("{\"name\": 1}").is_err());
        let e = parse("[\n{").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(parse("3").is_err());
    }
}
