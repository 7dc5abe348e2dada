//! CSV downloads of whole filtered lists (`GET /api/access?format=csv`,
//! `GET /api/audit?format=csv`): a header, then the rows read one database page at a time and
//! sent as they come, so memory does not grow with the list. Cells that a spreadsheet would run
//! as a formula are defused ([`cell`]).

use std::future::Future;

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;

use super::error::Errors;
use crate::store::StoreError;

/// A cell a spreadsheet would not run as a formula: text that starts with `=`, `+`, `-`, `@`,
/// tab or CR gets a leading `'` (OWASP "CSV injection"). Control and invisible format
/// characters are escaped as in a target's output ([`crate::tasks::printable`]): `cat x.csv`
/// must not drive a terminal.
pub fn cell(text: &str) -> String {
    let text = crate::tasks::printable(text);
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.into_owned()
    }
}

/// Whether query field `format` asks for CSV: absent, empty or `json` → `false`, `csv` → `true`;
/// anything else is an error under `format`. With `paged` (a `limit` or `cursor` was sent) CSV
/// is refused too: a download is the whole filtered list.
pub fn wants_csv(errors: &mut Errors, format: Option<&str>, paged: bool) -> bool {
    let csv = match format {
        None | Some("" | "json") => false,
        Some("csv") => true,
        Some(_) => {
            errors.add("format", "must be json or csv");
            false
        }
    };
    if csv && paged {
        errors.add(
            "format",
            "csv is the whole filtered list: drop limit and cursor",
        );
    }
    csv
}

/// `rows` as CSV bytes (RFC 4180 quoting).
pub fn csv_bytes<I, R>(rows: I) -> Result<Vec<u8>, std::io::Error>
where
    I: IntoIterator<Item = R>,
    R: IntoIterator,
    R::Item: AsRef<[u8]>,
{
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        writer.write_record(row)?;
    }
    writer.into_inner().map_err(|e| e.into_error())
}

/// One page of a download: its rows (cells) and the position of the next page (`None`: it was
/// the last).
pub type CsvPage<P> = (Vec<Vec<String>>, Option<P>);

/// A `text/csv` attachment named `filename`: `header`, then the pages `next` reads, starting at
/// `first` and following each page's next position until there is none. A page that fails to
/// read ends the body early (the status line is sent already) and is logged as `what`.
pub fn download<P, F, Fut>(
    filename: &'static str,
    what: &'static str,
    header: &[&str],
    first: P,
    next: F,
) -> Response
where
    P: Send + 'static,
    F: Fn(P) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<CsvPage<P>, StoreError>> + Send,
{
    let head = csv_bytes([header]);
    let next = std::sync::Arc::new(next);
    let pages = futures::stream::unfold(Some(first), move |position: Option<P>| {
        let next = next.clone();
        async move {
            let position = position?;
            match next(position).await {
                Ok((rows, after)) => Some((csv_bytes(rows), after)),
                Err(e) => {
                    tracing::error!(error = %e, "{what} CSV: reading a page failed");
                    Some((
                        Err(std::io::Error::other(format!("reading the {what} failed"))),
                        None,
                    ))
                }
            }
        }
    });
    let body = futures::stream::once(async move { head }).chain(pages);
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_that_a_spreadsheet_would_run_are_defused() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("-cmd"), "'-cmd");
        assert_eq!(cell("+1"), "'+1");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("alice@laptop"), "alice@laptop");
        assert_eq!(cell("x\u{1b}]0;pwned\u{7}"), "x\\u{1b}]0;pwned\\u{7}");
    }

    #[test]
    fn quotes_commas_and_newlines_are_quoted() {
        let bytes = csv_bytes([["a,b", "say \"hi\"", "two\nlines"]]).unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\"\n"
        );
    }
}
