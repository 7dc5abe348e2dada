//! CSV: a header row naming the columns (any order, case-insensitive): `name` and `host`
//! (required), `port`, `username` (or `user`), `tags` (separated by spaces or `;`). Fields are
//! trimmed; an empty `port` or `username` means "not given" (the batch default applies); lines
//! starting with `#` are comments. A column that is none of these is refused (a spreadsheet's
//! extra column would otherwise be dropped silently). Without a `tags` column, tags of existing
//! platforms are left alone.

use super::{FileError, Parsed, RawRow, split_tags};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Name,
    Host,
    Port,
    Username,
    Tags,
}

fn column(header: &str) -> Option<Column> {
    match header.trim().to_ascii_lowercase().as_str() {
        "name" => Some(Column::Name),
        "host" | "hostname" | "address" => Some(Column::Host),
        "port" => Some(Column::Port),
        "username" | "user" => Some(Column::Username),
        "tags" => Some(Column::Tags),
        _ => None,
    }
}

/// Parse CSV text (see the module documentation).
///
/// # Errors
/// [`FileError`] without a header, with a column that is not known or given twice, without a
/// `name` or `host` column, or when the text is not CSV.
pub fn parse(content: &str) -> Result<Parsed, FileError> {
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(::csv::Trim::All)
        .from_reader(content.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| FileError::new(Some(1), format!("not CSV: {e}")))?
        .clone();
    if headers.iter().all(|h| h.trim().is_empty()) {
        return Err(FileError::new(
            Some(1),
            "needs a header row naming the columns: name,host,port,username,tags",
        ));
    }
    let mut columns = Vec::with_capacity(headers.len());
    for header in &headers {
        let Some(c) = column(header) else {
            return Err(FileError::new(
                Some(1),
                format!(
                    "column {:?} is not one of name, host, port, username, tags",
                    header.chars().take(40).collect::<String>()
                ),
            ));
        };
        if columns.contains(&c) {
            return Err(FileError::new(
                Some(1),
                format!("column {:?} is given twice", header.trim()),
            ));
        }
        columns.push(c);
    }
    for (needed, label) in [(Column::Name, "name"), (Column::Host, "host")] {
        if !columns.contains(&needed) {
            return Err(FileError::new(
                Some(1),
                format!("the header has no {label} column (columns: name,host,port,username,tags)"),
            ));
        }
    }
    let has_tags = columns.contains(&Column::Tags);
    let mut parsed = Parsed::default();
    let mut lines = Lines {
        bytes: content.as_bytes(),
        offset: 0,
        line: 1,
    };
    for record in reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                let line = e.position().map(|p| lines.at(p.byte() as usize));
                return Err(FileError::new(line, format!("not CSV: {e}")));
            }
        };
        // The reader's own line count skips comment lines; the byte offset does not.
        // A comment line (`#` first); the reader's own comment support loses track of
        // positions, so comments are skipped here.
        if record.get(0).is_some_and(|f| f.starts_with('#')) || record.iter().all(str::is_empty) {
            continue;
        }
        let line = record.position().map_or(0, |p| lines.at(p.byte() as usize));
        let field = |c: Column| {
            columns
                .iter()
                .position(|x| *x == c)
                .and_then(|i| record.get(i))
                .unwrap_or("")
        };
        let mut row = RawRow::new(line, field(Column::Name));
        row.host = Some(field(Column::Host).to_string());
        row.port = Some(field(Column::Port).to_string());
        row.username = Some(field(Column::Username).to_string());
        row.tags = has_tags.then(|| split_tags(field(Column::Tags)));
        if record.len() != columns.len() {
            row.problem(
                "",
                format!(
                    "has {} fields; the header has {}",
                    record.len(),
                    columns.len()
                ),
            );
        }
        parsed.rows.push(row.check());
    }
    Ok(parsed)
}

/// 1-based line numbers of byte offsets met in increasing order (each byte is counted once).
struct Lines<'a> {
    bytes: &'a [u8],
    offset: usize,
    line: usize,
}

impl Lines<'_> {
    /// The line of the first byte at or after `offset` that is no line ending (a record's
    /// position may be that of blank lines skipped before it).
    fn at(&mut self, offset: usize) -> usize {
        let mut end = offset.min(self.bytes.len());
        while matches!(self.bytes.get(end), Some(b'\n' | b'\r')) {
            end += 1;
        }
        if end < self.offset {
            self.offset = 0;
            self.line = 1;
        }
        self.line += self.bytes[self.offset..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        self.offset = end;
        self.line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::Row;

    #[test]
    fn good_rows_with_defaults_left_open() {
        let text = "Name, Host ,port,username,tags\n\
                    web1,10.0.0.1,2222,deploy,web env=prod\n\
                    # a comment\n\
                    \n\
                    db1,DB1.example.org,,,db;backup\n";
        let parsed = parse(text).unwrap();
        assert_eq!(
            parsed.rows,
            vec![
                Ok(Row {
                    line: 2,
                    name: "web1".into(),
                    host: "10.0.0.1".into(),
                    port: Some(2222),
                    username: Some("deploy".into()),
                    tags: Some(vec!["web".into(), "env=prod".into()]),
                }),
                Ok(Row {
                    line: 5,
                    name: "db1".into(),
                    host: "db1.example.org".into(),
                    port: None,
                    username: None,
                    tags: Some(vec!["db".into(), "backup".into()]),
                }),
            ]
        );
    }

    #[test]
    fn bad_host_and_bad_port_name_the_line_and_field() {
        let parsed =
            parse("name,host,port\nok,h,22\nbad,-oProxyCommand=x,22\nport,h,0\nnan,h,x\n").unwrap();
        assert!(parsed.rows[0].is_ok());
        let e = parsed.rows[1].as_ref().unwrap_err();
        assert_eq!((e.line, e.errors[0].field.as_str()), (3, "host"));
        let e = parsed.rows[2].as_ref().unwrap_err();
        assert_eq!((e.line, e.errors[0].field.as_str()), (4, "port"));
        let e = parsed.rows[3].as_ref().unwrap_err();
        assert_eq!((e.line, e.errors[0].field.as_str()), (5, "port"));
    }

    #[test]
    fn without_a_tags_column_tags_are_not_given() {
        let parsed = parse("host,name\nh,n\n").unwrap();
        assert_eq!(parsed.rows[0].as_ref().unwrap().tags, None);
    }

    #[test]
    fn quoted_fields_and_a_short_record() {
        let parsed = parse("name,host,tags\n\"web, one\",h,\"a b\"\nx,h2,t,extra\n").unwrap();
        let row = parsed.rows[0].as_ref().unwrap();
        assert_eq!(row.name, "web, one");
        let e = parsed.rows[1].as_ref().unwrap_err();
        assert_eq!(e.errors[0].field, "");
        assert!(e.errors[0].message.contains("4 fields"), "{e:?}");
    }

    #[test]
    fn header_problems_refuse_the_file() {
        assert!(parse("").is_err());
        let e = parse("name,host,colour\n").unwrap_err();
        assert!(e.message.contains("colour"), "{e}");
        let e = parse("name,port\nweb,22\n").unwrap_err();
        assert!(e.message.contains("host column"), "{e}");
        assert!(parse("name,name,host\n").is_err());
    }
}
