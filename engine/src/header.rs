//! Whether a file's header row is really a header: a headerless export
//! (a `bcp` dump, a sheet whose first row is data) otherwise loses its first
//! record to the column names, and the report would still balance.
//!
//! The rule, stated in the README ("A header that looks like data"):
//! a header cell *looks like data* when it reads as a number (`42`, `-3.5`,
//! `1,234.00`, `$12.00`), a date or timestamp (ISO, US or European order),
//! or an email address. The header is flagged when at least one cell looks
//! like data and either half or more of its non-empty cells do, or one of
//! them has the same kind as at least 80% of the values below it in its
//! column (in the first 100 rows).

use crate::transform::date::parse_date;
use crate::transform::{DateFormat, DateSpec, Outcome, normalize_email};

/// The warning code a flagged header carries.
pub const HEADER_LOOKS_LIKE_DATA: &str = "header_looks_like_data";

/// Rows below the header the rule compares with.
pub const HEADER_SAMPLE_ROWS: usize = 100;

/// What a non-empty value reads as, for the header check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellKind {
    Number,
    Date,
    Email,
    Text,
}

impl CellKind {
    fn name(self) -> &'static str {
        match self {
            Self::Number => "a number",
            Self::Date => "a date",
            Self::Email => "an email address",
            Self::Text => "text",
        }
    }
}

fn is_number(value: &str) -> bool {
    let v = value.trim_start_matches(['$', '€', '£', '¥']).trim_end_matches(['$', '€', '£', '¥', '%']).trim();
    let v = v.strip_prefix(['-', '+']).unwrap_or(v);
    let mut digits = 0;
    for c in v.chars() {
        match c {
            '0'..='9' => digits += 1,
            ',' | '.' | '\'' | ' ' => {}
            _ => return false,
        }
    }
    digits > 0 && v.starts_with(|c: char| c.is_ascii_digit() || c == '.')
}

fn is_date(value: &str) -> bool {
    ["iso", "us", "eu"].iter().any(|preset| {
        let spec = DateSpec { formats: DateFormat::preset(preset).unwrap_or_default(), ..DateSpec::default() };
        matches!(parse_date(value, &spec), Outcome::Value(_) | Outcome::ValueNoted(..))
    })
}

/// The kind of a value; `None` when it is empty.
pub fn cell_kind(value: &str) -> Option<CellKind> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    if is_number(v) {
        Some(CellKind::Number)
    } else if is_date(v) {
        Some(CellKind::Date)
    } else if v.contains('@')
        && matches!(normalize_email(v, &Default::default()), Outcome::Value(_) | Outcome::ValueNoted(..))
    {
        Some(CellKind::Email)
    } else {
        Some(CellKind::Text)
    }
}

/// Why `header` looks like a data record, judged against the `rows` below
/// it (the first [`HEADER_SAMPLE_ROWS`] are used); `None` when it reads as
/// a header.
pub fn header_looks_like_data(header: &[String], rows: &[Vec<Option<String>>]) -> Option<String> {
    let kinds: Vec<(usize, &str, CellKind)> =
        header.iter().enumerate().filter_map(|(i, h)| cell_kind(h).map(|k| (i, h.as_str(), k))).collect();
    let data_like: Vec<&(usize, &str, CellKind)> = kinds.iter().filter(|(_, _, k)| *k != CellKind::Text).collect();
    if data_like.is_empty() {
        return None;
    }
    let rows = rows.get(..rows.len().min(HEADER_SAMPLE_ROWS)).unwrap_or(rows);
    let same_as_below = data_like.iter().find(|(i, _, kind)| {
        let below: Vec<CellKind> =
            rows.iter().filter_map(|r| r.get(*i).and_then(Option::as_deref).and_then(cell_kind)).collect();
        !below.is_empty() && below.iter().filter(|k| *k == kind).count() * 10 >= below.len() * 8
    });
    let cells = data_like
        .iter()
        .take(3)
        .map(|(i, h, k)| format!("column {} `{h}` is {}", i + 1, k.name()))
        .collect::<Vec<_>>()
        .join(", ");
    if data_like.len() * 2 >= kinds.len() {
        Some(format!(
            "{} of the header's {} named cells look like values ({cells}): if the file has no header row, set header = false",
            data_like.len(),
            kinds.len()
        ))
    } else {
        same_as_below.map(|(i, h, k)| {
            format!(
                "header cell {} `{h}` is {}, like the values below it ({cells}): if the file has no header row, set header = false",
                i + 1,
                k.name()
            )
        })
    }
}

/// Names for the columns of a file without a header row: `column_1`,
/// `column_2`, …
pub fn positional_names(width: usize) -> Vec<String> {
    (1..=width).map(|i| format!("column_{i}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(ToString::to_string).collect()
    }

    fn rows(v: &[&[&str]]) -> Vec<Vec<Option<String>>> {
        v.iter().map(|r| r.iter().map(|c| Some(c.to_string())).collect()).collect()
    }

    #[test]
    fn cell_kinds() {
        let cases: [(&str, Option<CellKind>); 14] = [
            ("42", Some(CellKind::Number)),
            ("-3.5", Some(CellKind::Number)),
            ("1,234.00", Some(CellKind::Number)),
            ("$12.00", Some(CellKind::Number)),
            ("12,5 €", Some(CellKind::Number)),
            ("2019-03-12", Some(CellKind::Date)),
            ("12/03/2019", Some(CellKind::Date)),
            ("2019-03-12 10:15:00", Some(CellKind::Date)),
            ("ada@example.com", Some(CellKind::Email)),
            ("Smith", Some(CellKind::Text)),
            ("Q1 2019", Some(CellKind::Text)),
            ("E-Mail", Some(CellKind::Text)),
            ("-", Some(CellKind::Text)),
            ("  ", None),
        ];
        for (value, expected) in cases {
            assert_eq!(cell_kind(value), expected, "{value:?}");
        }
    }

    #[test]
    fn headers_that_look_like_data_are_flagged() {
        // A bcp dump: its first record is data.
        let first = strings(&["1001", "2019-03-12", "Smith", "45.00"]);
        let below = rows(&[&["1002", "2019-03-13", "Jones", "12.50"], &["1003", "2019-04-01", "Brown", "7.25"]]);
        let why = header_looks_like_data(&first, &below).expect("flagged");
        assert!(why.starts_with("3 of the header's 4 named cells look like values"), "{why}");
        assert!(why.contains("column 1 `1001` is a number"), "{why}");
        assert!(why.contains("set header = false"), "{why}");

        // A surname next to a number, in a wider sheet: one cell, but the
        // same kind as its column.
        let first = strings(&["Miller", "Anna", "Berlin", "Germany", "37"]);
        let below = rows(&[&["Jones", "Bob", "Leeds", "UK", "41"], &["Kim", "Su", "Seoul", "Korea", "29"]]);
        let why = header_looks_like_data(&first, &below).expect("flagged");
        assert!(why.starts_with("header cell 5 `37` is a number, like the values below it"), "{why}");
    }

    #[test]
    fn real_headers_are_not_flagged() {
        let header = strings(&["CustomerID", "Name", "E-Mail", "Created"]);
        let below = rows(&[&["1", "Ada", "a@x.io", "2019-03-12"]]);
        assert_eq!(header_looks_like_data(&header, &below), None);
        // One year column among many names, over text values: a header.
        let header = strings(&["Region", "Manager", "Notes", "Status", "2019"]);
        let below = rows(&[&["North", "Ann", "ok", "open", "n/a"]]);
        assert_eq!(header_looks_like_data(&header, &below), None);
        assert_eq!(header_looks_like_data(&[], &[]), None);
    }

    #[test]
    fn positional_names_count_from_one() {
        assert_eq!(positional_names(3), ["column_1", "column_2", "column_3"]);
    }
}
