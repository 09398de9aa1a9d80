//! Any report (JSON in the v1 shape) rendered as the customer's HTML page
//! and as Markdown: never a panic, never a script or an external address in
//! the page, and every Markdown table row keeps its columns whatever the
//! names and values hold.
#![no_main]

use libfuzzer_sys::fuzz_target;
use migrate_app::{render_html, render_markdown};
use migrate_engine::RunReport;

/// Cell separators in a Markdown table row (`\|` is text, not a separator).
fn separators(line: &str) -> usize {
    let mut count = 0;
    let mut escaped = false;
    for c in line.chars() {
        match (c, escaped) {
            ('\\', false) => escaped = true,
            ('|', false) => count += 1,
            _ => escaped = false,
        }
    }
    count
}

fuzz_target!(|data: &[u8]| {
    let Ok(report) = serde_json::from_slice::<RunReport>(data) else { return };
    let html = render_html(&report).to_ascii_lowercase();
    assert!(!html.contains("<script"), "a script in the page");
    assert!(!html.contains("javascript:"), "a javascript: address in the page");
    assert!(!html.contains("http://") && !html.contains("https://"), "an external address in the page");
    let markdown = render_markdown(&report);
    let mut table = None;
    for line in markdown.lines() {
        if line.starts_with("| ") {
            let n = separators(line);
            assert_eq!(*table.get_or_insert(n), n, "a table row with other columns: {line:?}");
        } else {
            table = None;
        }
    }
});
