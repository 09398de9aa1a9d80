//! Cells a spreadsheet would run as a formula (`=HYPERLINK(…)`, `+1`, `-2`,
//! `@SUM(…)`, a leading tab or carriage return), written into the CSV files
//! a run gives the customer (rejects, duplicates), get a leading `'`, which
//! spreadsheets take as "this is text" and do not show. The escape is
//! reversible: a value of zero or more `'` then one of those characters gets
//! one more `'`; reading a rejects file back removes one. So a rejects file
//! fed back through its mapping loads exactly what the source held, whether
//! it was edited as text (the `'` still there) or re-saved by a spreadsheet
//! (the `'` gone, the value as it was), except, in the second case, a value
//! that itself began with `'` and one of those characters: it loses one `'`.

use std::borrow::Cow;

fn triggers(value: &str) -> bool {
    value.trim_start_matches('\'').starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// The value as a customer's CSV file holds it.
pub fn escape_formula(value: &str) -> Cow<'_, str> {
    if triggers(value) { Cow::Owned(format!("'{value}")) } else { Cow::Borrowed(value) }
}

/// The value as the source held it, from a rejects file.
pub fn unescape_formula(value: &str) -> &str {
    match value.strip_prefix('\'') {
        Some(rest) if triggers(rest) => rest,
        _ => value,
    }
}

/// The first columns of a rejects file (`rejects/ENTITY.csv`): such a file
/// read as a source has its cells unescaped.
pub const REJECTS_COLUMNS: &[&str] = &["_location", "_column", "_value", "_reason", "_message"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_every_value_comes_back_exactly() {
        let cases = [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("-12.50", "'-12.50"),
            ("+49 30 1234", "'+49 30 1234"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("'=already", "''=already"),
            ("'plain", "'plain"),
            ("plain", "plain"),
            ("", ""),
            ("a=b", "a=b"),
        ];
        for (value, written) in cases {
            assert_eq!(escape_formula(value), written, "{value:?}");
            assert_eq!(unescape_formula(written), value, "{written:?}");
            // A spreadsheet saving the cell drops the text marker: exact
            // too, but for a value that itself began with `'` and a
            // trigger (the one case the README names).
            if !value.starts_with('\'') {
                let resaved = written.strip_prefix('\'').filter(|_| written != value).unwrap_or(written);
                assert_eq!(unescape_formula(resaved), value, "re-saved {resaved:?}");
            }
        }
    }
}
