//! How list commands print: a table for people (columns padded to the widest cell) or, with
//! `--output json`, the server's objects as they are (every field) for scripts. Lists that can
//! grow without bound (tasks, audit events) show one page at a time ([`Pages`]); `--all` with
//! `--output json` streams every page as one JSON array, a page in memory at a time.

use std::io::Write as _;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::UsageError;
use super::api::Api;

/// What a list command prints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Columns for people.
    #[default]
    Table,
    /// The server's objects as they are (a list: a JSON array), every field, for scripts.
    Json,
}

/// The `--output` flag of a list command.
#[derive(Debug, Clone, Copy, Args)]
pub struct OutputArg {
    /// `table` (for people) or `json` (for scripts: the server's objects with every field; a
    /// list is a JSON array).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

/// The paging flags of a list that can grow without bound (tasks, audit events).
#[derive(Debug, Clone, Args)]
pub struct Pages {
    /// Rows of one page, 1 to 500.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=500))]
    limit: u32,
    /// Start at this page: the `--cursor` a previous listing named on stderr.
    #[arg(long)]
    cursor: Option<String>,
    /// Every page from here on (only with `--output json`: streamed, one page in memory at a
    /// time).
    #[arg(long)]
    all: bool,
}

/// Print `rows` under `header` in columns padded to the widest cell.
pub fn print_table(header: &[&str], rows: impl Iterator<Item = Vec<String>>) {
    let rows: Vec<Vec<String>> = std::iter::once(header.iter().map(|h| h.to_string()).collect())
        .chain(rows)
        .collect();
    let mut widths = vec![0; header.len()];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    print_out(&text);
}

/// `value` as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    print_out(&text);
    Ok(())
}

/// `items` (the server's objects) as `format` says: a JSON array as is, or a table of `header`
/// whose rows `row` makes of each item read as `T`.
pub fn print_items<T: DeserializeOwned>(
    format: Format,
    items: Vec<Value>,
    header: &[&str],
    row: impl Fn(T) -> Vec<String>,
) -> anyhow::Result<()> {
    match format {
        Format::Json => print_json(&items),
        Format::Table => {
            let typed = items
                .into_iter()
                .map(|item| serde_json::from_value::<T>(item).map(&row))
                .collect::<Result<Vec<_>, _>>()
                .context("unexpected item in the server's list")?;
            print_table(header, typed.into_iter());
            Ok(())
        }
    }
}

impl Pages {
    /// Print the list at `path` (which may carry a query already) as `format` says: one page
    /// (stderr names the `--cursor` of the next one), or with `--all` every page as one JSON
    /// array, streamed.
    pub async fn print<T: DeserializeOwned>(
        &self,
        api: &mut Api,
        path: &str,
        format: Format,
        header: &[&str],
        row: impl Fn(T) -> Vec<String>,
    ) -> anyhow::Result<()> {
        if self.all && format != Format::Json {
            return Err(UsageError(
                "--all: only with --output json (a table is read whole; page it with --cursor)"
                    .into(),
            )
            .into());
        }
        let mut cursor = self.cursor.clone();
        if !self.all {
            let page = api
                .page::<Value>(path, self.limit, cursor.as_deref())
                .await?;
            print_items(format, page.items, header, row)?;
            if let Some(next) = page.next_cursor {
                eprintln!("testum: more: add --cursor {next}");
            }
            return Ok(());
        }
        print_out("[");
        let mut first = true;
        loop {
            let page = api
                .page::<Value>(path, self.limit, cursor.as_deref())
                .await?;
            let mut text = String::new();
            for item in &page.items {
                text.push_str(if first { "\n" } else { ",\n" });
                text.push_str(&serde_json::to_string(item)?);
                first = false;
            }
            print_out(&text);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        print_out("\n]\n");
        Ok(())
    }
}

/// `3 platforms: 1 in_sync, 1 drift, 1 unreachable`: how many `values` there are, then how
/// many of each, in the order of `order` (a value not in it comes after, in the order first
/// seen), leaving out those with none. `noun` is (singular, plural).
pub fn counts_line<'a>(
    noun: (&str, &str),
    order: &[&str],
    values: impl IntoIterator<Item = &'a str>,
) -> String {
    let mut counts: Vec<(usize, &str, usize)> = Vec::new();
    let mut total = 0;
    for value in values {
        total += 1;
        match counts.iter_mut().find(|(_, v, _)| *v == value) {
            Some((_, _, count)) => *count += 1,
            None => {
                let rank = order
                    .iter()
                    .position(|o| *o == value)
                    .unwrap_or(order.len());
                counts.push((rank, value, 1));
            }
        }
    }
    // Stable: unknown values keep the order they were first seen in.
    counts.sort_by_key(|(rank, _, _)| *rank);
    let parts: Vec<String> = counts
        .iter()
        .map(|(_, value, count)| format!("{count} {value}"))
        .collect();
    let noun = if total == 1 { noun.0 } else { noun.1 };
    format!("{total} {noun}: {}", parts.join(", "))
}

/// Write `text` to stdout now (a closed pipe ends the process by SIGPIPE, see `crate::cli`).
pub fn print_out(text: &str) {
    let mut out = std::io::stdout().lock();
    // A closed pipe is not an error worth reporting.
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

#[cfg(test)]
mod tests {
    use super::counts_line;

    #[test]
    fn counts_follow_the_order_and_skip_values_with_none() {
        let order = ["succeeded", "failed", "cancelled"];
        assert_eq!(
            counts_line(
                ("target", "targets"),
                &order,
                ["failed", "weird", "succeeded", "failed"]
            ),
            "4 targets: 1 succeeded, 2 failed, 1 weird"
        );
        assert_eq!(
            counts_line(("target", "targets"), &order, ["cancelled"]),
            "1 target: 1 cancelled"
        );
    }
}
