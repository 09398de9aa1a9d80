//! Every warning code a run can put in its report, with what it means in a
//! sentence (the HTML report shows it). The codes are part of the report
//! contract: add codes, never rename one. The README lists each of them, and
//! a test holds it to that; a run that counts a code not listed here fails
//! its debug assertion.

use crate::header::HEADER_LOOKS_LIKE_DATA;
use crate::transform::NOTE_DISPLAY_NAME;
use crate::transform::date::{NOTE_DST_GAP, NOTE_DST_OVERLAP, NOTE_SENTINEL};
use crate::transform::mojibake::REPAIRED;
use crate::transform::value_map::NOTE_DEFAULTED;

/// (code, meaning) of every warning.
pub const WARNINGS: &[(&str, &str)] = &[
    ("unmapped_source_column", "a source column with data that the mapping does not load"),
    (NOTE_SENTINEL, "placeholder dates (00/00/0000, 1900-01-01 …) loaded as empty"),
    (
        "sentinel_date_defaulted",
        "placeholder dates in a column with a default (created_at): new rows got the default, the load time",
    ),
    ("invalid_nulled", "invalid values left empty so that their rows could load (on_invalid = \"null\")"),
    (
        "invalid_kept_raw",
        "invalid values left empty, the original text kept in custom_fields (on_invalid = \"keep_raw\")",
    ),
    (NOTE_DST_GAP, "times that do not exist in the time zone (clocks went forward) moved forward"),
    (NOTE_DST_OVERLAP, "times that happen twice in the time zone (clocks went back): the earlier one taken"),
    ("truncated", "values shortened to the column's limit"),
    ("nul_removed", "NUL characters removed"),
    (NOTE_DEFAULTED, "values not in the mapping's list, given the mapping's default"),
    ("invalid_bytes_replaced", "bytes that were not text replaced by �"),
    (REPAIRED, "double-encoded text (Ã© for é) repaired: the examples show before → after"),
    ("double_encoded_utf8", "text that looks double-encoded (Ã© for é), loaded as read"),
    ("header_renamed", "header names made unique or given to empty ones"),
    (HEADER_LOOKS_LIKE_DATA, "the row read as column names looks like a data record (set header = false if it is one)"),
    (
        "trailing_delimiter",
        "a header ending with a delimiter: the columns past its last name are kept as column_N, empty unless a row fills them",
    ),
    (crate::map::NULLED_ERROR_CELL, "spreadsheet error cells (#N/A, #DIV/0! …) loaded as empty"),
    ("fraction_truncated", "times with a 7th fractional digit, cut to microseconds"),
    ("date_out_of_range", "dates past year 9999 in the source, kept as milliseconds since 1970"),
    ("orphan_unlinked", "rows loaded without a link whose legacy key matched nothing"),
    ("matched_existing", "new rows matched to a row the organisation already had"),
    (NOTE_DISPLAY_NAME, "e-mail addresses taken out of a display-name form (Bob <bob@example.com>)"),
    (crate::map::NOTE_FILLED_DOWN, "empty values given the value above them (fill_down)"),
];

/// What a warning code means; `None` for a code that is not one.
pub fn warning_text(code: &str) -> Option<&'static str> {
    WARNINGS.iter().find(|(c, _)| *c == code).map(|(_, text)| *text)
}

#[cfg(test)]
mod tests {
    use super::WARNINGS;
    use crate::reject::RejectReason;

    fn readme() -> String {
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap_or_default()
    }

    #[test]
    fn every_warning_and_reject_code_is_documented_in_the_readme() {
        let readme = readme();
        assert!(readme.contains("## The report"), "README.md not found");
        let missing: Vec<&str> = WARNINGS
            .iter()
            .map(|(code, _)| *code)
            .chain(RejectReason::ALL.iter().map(|r| r.code()))
            .filter(|code| !readme.contains(&format!("`{code}`")))
            .collect();
        assert!(missing.is_empty(), "codes the README does not name: {missing:?}");
    }

    /// Code literals where the sources emit notes: `code: "…"`,
    /// `note: Some("…")`, `.note(i, "…", …)` and `then_some("…")`, in every
    /// crate's non-test source.
    fn emitted_literals(text: &str) -> Vec<String> {
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        let mut out = Vec::new();
        for needle in ["code: \"", "note: Some(\"", "then_some(\""] {
            for (at, _) in text.match_indices(needle) {
                let rest = &text[at + needle.len()..];
                out.extend(rest.split('"').next().map(str::to_string));
            }
        }
        for (at, _) in text.match_indices(".note(") {
            let call = text[at..].split(')').next().unwrap_or_default();
            if let Some(literal) = call.split('"').nth(1) {
                out.push(literal.to_string());
            }
        }
        out.retain(|s| s.contains('_') && s.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
        out
    }

    fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            if path.is_dir() && name != "tests" && name != "target" && !name.starts_with('.') {
                rust_files(&path, out);
            } else if name.ends_with(".rs") && name != "tests.rs" {
                out.push(path);
            }
        }
    }

    #[test]
    fn every_code_the_sources_emit_is_a_listed_warning() {
        let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
        let mut files = Vec::new();
        for dir in ["engine/src", "connectors", "cli/src", "worker/src"] {
            rust_files(&root.join(dir), &mut files);
        }
        assert!(files.len() > 50, "the workspace's sources: {}", files.len());
        let mut seen = 0;
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            for code in emitted_literals(&text) {
                seen += 1;
                assert!(
                    super::warning_text(&code).is_some(),
                    "{} emits `{code}`, which WARNINGS does not list",
                    file.display()
                );
            }
        }
        assert!(seen >= 10, "the scan found the notes the sources emit: {seen}");
    }

    #[test]
    fn warning_codes_are_unique() {
        let mut codes: Vec<&str> = WARNINGS.iter().map(|(c, _)| *c).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), WARNINGS.len());
    }
}
