//! The customer's report: `report.html` (one self-contained page: inline CSS
//! and SVG, no script, no external request; every value escaped) and a
//! Markdown summary for tickets and emails, both from `report.json` alone.

use maud::{DOCTYPE, Markup, PreEscaped, html};
use migrate_engine::{ColumnCheck, EntityReport, Fingerprint, RunReport, RunStatus};

const CSS: &str = r#"
:root { --ok: #1b7f3b; --bad: #b42318; --warn: #b54708; --muted: #667085; --line: #d0d5dd; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #101828; margin: 0 auto; max-width: 1100px; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.verdict { font-size: 18px; font-weight: 600; padding: 12px 16px; border-radius: 8px; margin: 12px 0; }
.verdict.ok { background: #ecfdf3; color: var(--ok); border: 1px solid #abefc6; }
.verdict.bad { background: #fef3f2; color: var(--bad); border: 1px solid #fecdca; }
.verdict .sub { display: block; font-size: 14px; font-weight: 400; margin-top: 4px; color: #344054; }
.warn { background: #fffaeb; border: 1px solid #fedf89; border-radius: 8px; padding: 8px 12px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #f9fafb; font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
td.code, .code { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12.5px; word-break: break-all; }
td.loc { word-break: normal; overflow-wrap: normal; }
.yes { color: var(--ok); font-weight: 600; }
.no { color: var(--bad); font-weight: 600; }
.muted { color: var(--muted); }
.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 8px 0; }
.meta dt { color: var(--muted); }
.meta dd { margin: 0; }
.legend span { display: inline-block; margin-right: 14px; }
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; vertical-align: baseline; }
details { margin: 6px 0 10px; }
summary { cursor: pointer; font-weight: 600; }
.fix { color: #344054; margin: 2px 0 6px; }
tr.mismatch td { background: #fef3f2; }
footer { margin-top: 32px; color: var(--muted); font-size: 12px; }
@page { size: A4; margin: 14mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  thead { display: table-header-group; }
  tr, .verdict, svg { break-inside: avoid; }
  h2 { break-after: avoid; }
  summary { list-style: none; }
}
"#;

const LOADED: &str = "#2e90fa";
const REJECTED: &str = "#f04438";
const DUPLICATES: &str = "#f79009";
const FILTERED: &str = "#98a2b3";

/// `12345` → `12,345`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn rows(n: u64) -> String {
    if n == 1 { "1 row".to_string() } else { format!("{} rows", thousands(n)) }
}

/// What a customer can do about a rejected row, by reason.
pub fn how_to_fix(reason: &str) -> &'static str {
    match reason {
        "missing_key" => "Every row needs its identifier. Fill in the key column.",
        "required_missing" => "The mapping requires this value. Fill it in, or agree to make it optional.",
        "not_null" => "The platform needs a value here. Fill it in.",
        "too_long" => "Shorten the value to the column's limit, or agree on truncation in the mapping.",
        "invalid_value" => "Use one of the values the platform allows.",
        "malformed_row" => "The line has more or fewer fields than the header: look for a stray delimiter or quote.",
        "invalid_encoding" => "The line has bytes that are not text in the file's encoding: re-export as UTF-8.",
        "field_too_large" => "A field is far longer than expected: look for an unclosed quote.",
        "transform_failed" => "The value could not be converted: correct it in the file.",
        "invalid_date" => "Write the date in the file's usual format (or as YYYY-MM-DD).",
        "date_out_of_range" => "The date is outside the allowed range: correct the year.",
        "invalid_amount" => "Write the amount with the file's usual decimal separator and no stray text.",
        "unknown_currency" => "Add the currency (EUR, USD, …) or agree on a default.",
        "invalid_email" => "Correct the e-mail address (one @, a domain, no spaces).",
        "invalid_phone" => "Correct the phone number, with its country code if it is not local.",
        "invalid_boolean" => "Use yes/no, true/false or 1/0.",
        "unmapped_value" => "The value is not in the mapping's list: correct it, or add it to the mapping.",
        "no_rate" => "No exchange rate covers this date and currency: add one to the rates file.",
        "invalid_type" => "The database refused the value's type: correct the value.",
        "constraint_violation" => "The database refused the row (a rule such as uniqueness): see the message.",
        _ => "See the message.",
    }
}

/// What a warning code means, in a sentence (empty for an unknown code).
pub fn warning_text(code: &str) -> &'static str {
    migrate_engine::codes::warning_text(code).unwrap_or("")
}

fn totals(report: &RunReport) -> (u64, u64, u64, u64, u64) {
    report.entities.iter().fold((0, 0, 0, 0, 0), |(r, l, j, d, f), e| {
        (r + e.counts.read, l + e.counts.loaded, j + e.counts.rejected, d + e.counts.duplicates, f + e.counts.filtered)
    })
}

fn mismatches(report: &RunReport) -> Vec<String> {
    report
        .entities
        .iter()
        .flat_map(|e| e.fingerprints.iter().filter(|c| !c.matches).map(move |c| format!("{}.{}", e.entity, c.column)))
        .collect()
}

/// The headline and its explanation, and whether it is good news.
pub fn verdict(report: &RunReport) -> (bool, String, String) {
    let (read, loaded, rejected, duplicates, filtered) = totals(report);
    let mut parts = vec![format!("{} loaded", thousands(loaded)), format!("{} rejected", thousands(rejected))];
    parts.push(format!("{} duplicates", thousands(duplicates)));
    if filtered > 0 {
        parts.push(format!("{} filtered by the mapping", thousands(filtered)));
    }
    let breakdown = parts.join(", ");
    match report.status {
        RunStatus::Succeeded | RunStatus::DryRun => {}
        other => {
            let why = report.error.clone().unwrap_or_default();
            return (false, format!("The run {}: nothing was published.", other.as_str().replace('_', " ")), why);
        }
    }
    let missing = read.saturating_sub(loaded + rejected + duplicates + filtered);
    let differ = mismatches(report);
    let dry = if report.status == RunStatus::DryRun { " (dry run: nothing was kept)" } else { "" };
    if !report.balanced() {
        return (
            false,
            format!("{} of {} source rows are not accounted for{dry}.", thousands(missing), thousands(read)),
            breakdown,
        );
    }
    if let Some(suspect) = suspect_header(report) {
        return (
            false,
            format!(
                "All {} data rows read are accounted for, but {suspect}: it may be a record that was not loaded{dry}.",
                thousands(read)
            ),
            breakdown,
        );
    }
    if !differ.is_empty() {
        return (
            false,
            format!(
                "All {} source rows are accounted for, but the data check found differences{dry}.",
                thousands(read)
            ),
            format!(
                "{breakdown}. Columns whose values in the platform differ from what was loaded: {}.",
                differ.join(", ")
            ),
        );
    }
    (true, format!("All {} source rows are accounted for{dry}.", thousands(read)), format!("{breakdown}."))
}

/// The first source whose header looks like a data record, in words.
fn suspect_header(report: &RunReport) -> Option<String> {
    report.sources.iter().find_map(|s| {
        let h = s.header.as_ref()?;
        h.looks_like_data.as_ref()?;
        let at = h.line.map(|l| format!(" (line or row {l})")).unwrap_or_default();
        Some(format!("the header of source {}{at} looks like data", s.name))
    })
}

/// Where a file's header was, in words: `line 3, 2 records above`.
fn header_text(h: &migrate_engine::HeaderInfo) -> String {
    let above = match h.skipped_above {
        0 => String::new(),
        1 => ", 1 record skipped above it".to_string(),
        n => format!(", {} records skipped above it", thousands(n)),
    };
    match (h.consumed, h.line) {
        (true, Some(line)) => format!("line {line}{above}"),
        (true, None) => format!("read{above}"),
        (false, _) => format!("none (header = false){above}"),
    }
}

/// A location (`/exports/2024/211.csv:340`, `Sheet1!A17`) that wraps, if
/// it must, only after a `/` or `\\`: never inside a name or its line.
fn location(text: &str) -> Markup {
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '/' | '\\' => {
                out.push(c);
                out.push_str("<wbr>");
            }
            c => out.push(c),
        }
    }
    PreEscaped(out)
}

fn bar(e: &EntityReport) -> Markup {
    let c = &e.counts;
    let total = c.read.max(1) as f64;
    let width = 600.0;
    let mut x = 0.0;
    let mut segments = Vec::new();
    for (value, color, label) in [
        (c.loaded, LOADED, "loaded"),
        (c.rejected, REJECTED, "rejected"),
        (c.duplicates, DUPLICATES, "duplicates"),
        (c.filtered, FILTERED, "filtered"),
    ] {
        if value == 0 {
            continue;
        }
        let w = (value as f64 / total * width).max(1.0);
        segments.push((x, w, color, format!("{label}: {}", thousands(value))));
        x += w;
    }
    html! {
        svg width="100%" height="28" viewBox="0 0 600 28" preserveAspectRatio="none" role="img"
            aria-label=(format!("{}: {} read", e.entity, thousands(c.read))) {
            rect x="0" y="4" width="600" height="20" fill="#f2f4f7" {}
            @for (x, w, color, title) in &segments {
                rect x=(format!("{x:.2}")) y="4" width=(format!("{w:.2}")) height="20" fill=(color) { title { (title) } }
            }
        }
    }
}

fn fingerprint_cell(f: &Fingerprint, kind: &str) -> Markup {
    html! {
        (thousands(f.non_null)) " values"
        @if kind == "numeric" { br; "sum " (f.sum.as_deref().unwrap_or("–")) }
        @if kind == "numeric" || kind == "temporal" {
            br; (f.min.as_deref().unwrap_or("–")) " … " (f.max.as_deref().unwrap_or("–"))
        }
        br; span.code.muted { "hash " (f.hash) }
    }
}

fn checks_table(checks: &[ColumnCheck]) -> Markup {
    checks_table_of(checks, "loaded", "in the platform now")
}

/// Fingerprints of two sides of each column, headed `left` and `right`.
pub(crate) fn checks_table_of(checks: &[ColumnCheck], left: &str, right: &str) -> Markup {
    html! {
        table {
            thead { tr { th { "column" } th { (left) } th { (right) } th { "same" } } }
            tbody {
                @for c in checks {
                    tr class=[(!c.matches).then_some("mismatch")] {
                        td.code { (c.column) }
                        td { (fingerprint_cell(&c.published, &c.kind)) }
                        td { (fingerprint_cell(&c.target, &c.kind)) }
                        td { @if c.matches { span.yes { "yes" } } @else { span.no { "no" } } }
                    }
                }
            }
        }
    }
}

/// A report page's head: its title and the shared style.
pub(crate) fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) }
            style { (PreEscaped(CSS)) }
        }
    }
}

/// The whole page.
pub fn render_html(report: &RunReport) -> String {
    let (good, headline, detail) = verdict(report);
    let (read, loaded, rejected, duplicates, filtered) = totals(report);
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            (head(&format!("Migration report: {}", report.mapping.name)))
            body {
                header {
                    h1 { "Migration report: " (report.mapping.name) }
                    div.muted { "Run " span.code { (report.run_id) } " for organisation " span.code { (report.org_id) } }
                    p.verdict.ok[good].bad[!good] #verdict {
                        (headline)
                        span.sub { (detail) }
                    }
                }
                h2 { "Every source row, accounted for" }
                table #totals {
                    thead {
                        tr {
                            th { "entity" } th { "source" } th.n { "read" } th.n { "loaded" } th.n { "of which new" }
                            th.n { "updated" } th.n { "unchanged" } th.n { "rejected" } th.n { "duplicates" }
                            th.n { "filtered" } th.n { "in the platform" } th { "adds up" }
                        }
                    }
                    tbody {
                        @for e in &report.entities {
                            tr {
                                td { (e.entity) } td { (e.source) }
                                td.n { (thousands(e.counts.read)) } td.n { (thousands(e.counts.loaded)) }
                                td.n { (thousands(e.counts.inserted)) } td.n { (thousands(e.counts.updated)) }
                                td.n { (thousands(e.counts.unchanged)) } td.n { (thousands(e.counts.rejected)) }
                                td.n { (thousands(e.counts.duplicates)) } td.n { (thousands(e.counts.filtered)) }
                                td.n { (e.target_count.map(thousands).unwrap_or_else(|| "–".into())) }
                                td { @if e.balanced { span.yes { "yes" } } @else { span.no { "no" } } }
                            }
                        }
                        @if report.entities.len() > 1 {
                            tr {
                                th { "all" } th {}
                                th.n { (thousands(read)) } th.n { (thousands(loaded)) } th {} th {} th {}
                                th.n { (thousands(rejected)) } th.n { (thousands(duplicates)) } th.n { (thousands(filtered)) }
                                th {} th {}
                            }
                        }
                    }
                }
                p.muted {
                    "read = loaded + rejected + duplicates + filtered. \"In the platform\" is counted in the database after the load: "
                    "this organisation's rows that came from this source, this run and earlier ones."
                }
                div.legend {
                    span { i style=(format!("background:{LOADED}")) {} "loaded" }
                    span { i style=(format!("background:{REJECTED}")) {} "rejected" }
                    span { i style=(format!("background:{DUPLICATES}")) {} "duplicates" }
                    span { i style=(format!("background:{FILTERED}")) {} "filtered" }
                }
                @for e in &report.entities {
                    div { strong { (e.entity) } " — " (rows(e.counts.read)) (bar(e)) }
                }

                @if report.entities.iter().any(|e| !e.fingerprints.is_empty()) {
                    h2 { "Data check: what was loaded is what the platform holds" }
                    p.muted {
                        "For every loaded column, the values this run published and the values the platform holds for the same rows "
                        "after the load are summarised the same way: how many there are, their sum or range, and a checksum that changes "
                        "if any single value changes."
                    }
                    @for e in &report.entities {
                        @if !e.fingerprints.is_empty() {
                            @let differ = e.fingerprints.iter().filter(|c| !c.matches).count();
                            details open {
                                summary {
                                    (e.entity) ": "
                                    @if differ == 0 { span.yes { "all " (e.fingerprints.len()) " columns match" } }
                                    @else { span.no { (differ) " of " (e.fingerprints.len()) " columns differ" } }
                                }
                                (checks_table(&e.fingerprints))
                            }
                        }
                    }
                }

                @if report.entities.iter().any(|e| e.existing.is_some() || e.missing.is_some() || e.similar_pairs.is_some()) {
                    h2 { "Rows you already had" }
                    p.muted {
                        "Rows of this run that met a row the platform already held (loaded earlier, or matched by its values), "
                        "rows loaded earlier that this source no longer has (listed in missing/ENTITY.csv), and rows that look "
                        "alike (listed in similar/ENTITY.csv; nothing was merged)."
                    }
                    table #existing {
                        thead { tr {
                            th { "entity" } th { "when a row exists" } th.n { "met" } th.n { "by values" } th.n { "updated" }
                            th.n { "unchanged" } th.n { "skipped" } th { "when a row is gone" } th.n { "gone" } th.n { "deleted" }
                            th.n { "kept (referenced)" } th.n { "look alike" }
                        } }
                        tbody {
                            @for e in &report.entities {
                                tr {
                                    td { (e.entity) }
                                    @if let Some(x) = &e.existing {
                                        td.code { (x.on_existing) } td.n { (thousands(x.matched)) }
                                        td.n { (thousands(x.matched_by_values)) } td.n { (thousands(x.updated)) }
                                        td.n { (thousands(x.unchanged)) } td.n { (thousands(x.skipped)) }
                                    } @else { td {} td {} td {} td {} td {} td {} }
                                    @if let Some(m) = &e.missing {
                                        td.code { (m.on_missing) } td.n { (thousands(m.count)) } td.n { (thousands(m.deleted)) }
                                        td.n { (thousands(m.kept_referenced)) }
                                    } @else { td.muted { "not checked" } td {} td {} td {} }
                                    td.n { (e.similar_pairs.map(thousands).unwrap_or_default()) }
                                }
                            }
                        }
                    }
                }

                @if report.entities.iter().any(|e| e.links_created.is_some()) {
                    h2 { "Links between records" }
                    p.muted {
                        "Links the mapping asked to record in the platform's relations (entity_links), added by this run; "
                        "links an earlier run recorded are not counted again."
                    }
                    ul #links {
                        @for e in report.entities.iter().filter(|e| e.links_created.is_some()) {
                            li { (e.entity) ": " (thousands(e.links_created.unwrap_or_default())) " links added" }
                        }
                    }
                }

                @if rejected > 0 {
                    h2 { "Rejected rows, by reason" }
                    p.muted {
                        "Every rejected row is in rejects/ENTITY.csv with its location, the column, the value, the reason and all its original "
                        "fields. Correct that file and load it again with the same mapping (it ignores the columns starting with _)."
                    }
                    @for e in &report.entities {
                        @for r in &e.rejects_by_reason {
                            details open {
                                summary { (e.entity) ": " span.code { (r.reason) } " — " (rows(r.count)) }
                                p.fix { "How to fix: " (how_to_fix(&r.reason)) }
                                table {
                                    thead { tr { th { "where" } th { "column" } th { "value" } th { "why" } } }
                                    tbody {
                                        @for x in &r.examples {
                                            tr {
                                                td.code.loc { (location(&x.location)) }
                                                td { (x.column.as_deref().unwrap_or("")) }
                                                td.code { (x.value.as_deref().unwrap_or("")) }
                                                td { (x.message) }
                                            }
                                        }
                                    }
                                }
                                @if r.count > r.examples.len() as u64 {
                                    p.muted { "and " (thousands(r.count - r.examples.len() as u64)) " more in rejects/" (e.entity) ".csv" }
                                }
                            }
                        }
                    }
                }

                @if !report.warnings.is_empty() {
                    h2 { "Warnings" }
                    p.muted { "Rows with warnings were loaded; these are changes or oddities worth a look." }
                    table #warnings {
                        thead { tr { th { "entity" } th { "column" } th { "what" } th.n { "rows" } th { "examples" } } }
                        tbody {
                            @for w in &report.warnings {
                                tr {
                                    td { (w.entity) }
                                    td { (w.column.as_deref().unwrap_or("")) }
                                    td { span.code { (w.code) } @let t = warning_text(&w.code); @if !t.is_empty() { br; (t) } }
                                    td.n { (thousands(w.count)) }
                                    td.code { (w.examples.join(" | ")) }
                                }
                            }
                        }
                    }
                }

                @if !report.decisions.is_empty() {
                    h2 { "Settings decided from the data" }
                    table {
                        thead { tr { th { "entity" } th { "column or source" } th { "setting" } th { "decided" } th { "evidence" } } }
                        tbody {
                            @for d in &report.decisions {
                                tr {
                                    td { (d.entity) }
                                    td { @if let Some(source) = &d.source { "source " (source) } @else { (d.column) } }
                                    td { (d.setting) } td.code { (d.decision) } td { (d.evidence) }
                                }
                            }
                        }
                    }
                }

                h2 { "The run" }
                dl.meta {
                    dt { "status" } dd { (report.status.as_str()) }
                    dt { "organisation" } dd.code { (report.org_id) }
                    dt { "run" } dd.code { (report.run_id) }
                    dt { "started" } dd { (report.started_at.format("%Y-%m-%d %H:%M:%S UTC")) }
                    dt { "finished" } dd { (report.finished_at.format("%Y-%m-%d %H:%M:%S UTC")) }
                    dt { "mapping" } dd { (report.mapping.name) " " span.code.muted { (report.mapping.path) } }
                    dt { "mapping sha256" } dd.code { (report.mapping.sha256) }
                    @if let Some(error) = &report.error { dt { "error" } dd { (error) } }
                }
                h3 { "Source files" }
                table #sources {
                    thead { tr { th { "source" } th { "kind" } th { "location" } th.n { "rows" } th.n { "bytes" } th { "encoding" } th { "header" } th { "sha256" } } }
                    tbody {
                        @for s in &report.sources {
                            tr {
                                td { (s.name) } td { (s.kind) }
                                td.code.loc {
                                    (location(&s.location))
                                    @if let Some(t) = &s.transport { br; span.muted { "connection: " (t) } }
                                    @if let Some(w) = &s.window { br; span.muted { (window_text(w)) } }
                                }
                                td.n { (s.row_count.map(thousands).unwrap_or_default()) }
                                td.n { (s.size.map(thousands).unwrap_or_default()) }
                                td { (s.encoding.as_deref().unwrap_or("")) @if let Some(d) = &s.delimiter { " · delimiter " span.code { (d) } } }
                                td { @if let Some(h) = &s.header { (header_text(h)) } }
                                td.code { (s.sha256.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
                @for s in &report.sources {
                    @if let Some(h) = &s.header {
                        @if let Some(why) = &h.looks_like_data {
                            p.warn.header-suspect {
                                "The header of source " (s.name) " looks like a data record: " (why) "."
                                @if !h.fields.is_empty() { " It read: " span.code { (h.fields.join(" | ")) } }
                            }
                        }
                    }
                }
                @for src in report.sources.iter().filter(|s| !s.parts.is_empty()) {
                    h3 { "Source " (src.name) ", read in " (src.parts.len()) " parts" }
                    table.parts {
                        thead { tr { th { "range" } th.n { "rows" } } }
                        tbody {
                            @for part in &src.parts { tr { td.code { (part.range) } td.n { (thousands(part.rows)) } } }
                        }
                    }
                    @if let Some(note) = &src.consistency { p.muted { (note) } }
                }
                footer { "Written by migrate from report.json (schema version " (report.schema_version) ")." }
            }
        }
    };
    page.into_string()
}

/// A Markdown summary: the verdict, the counts, what to look at.
pub fn render_markdown(report: &RunReport) -> String {
    let (_, headline, detail) = verdict(report);
    let mut out = format!("## Migration report: {}\n\n**{headline}** {detail}\n\n", md(&report.mapping.name));
    out.push_str("| entity | read | loaded | rejected | duplicates | filtered | in the platform | adds up |\n");
    out.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n");
    for e in &report.entities {
        let c = &e.counts;
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            md(&e.entity),
            thousands(c.read),
            thousands(c.loaded),
            thousands(c.rejected),
            thousands(c.duplicates),
            thousands(c.filtered),
            e.target_count.map(thousands).unwrap_or_else(|| "–".into()),
            if e.balanced { "yes" } else { "**no**" }
        ));
    }
    let reasons: Vec<String> = report
        .entities
        .iter()
        .flat_map(|e| {
            e.rejects_by_reason
                .iter()
                .map(move |r| format!("- {}: `{}` × {}", md(&e.entity), r.reason, thousands(r.count)))
        })
        .collect();
    if !reasons.is_empty() {
        out.push_str("\nRejected rows (details in rejects/ENTITY.csv):\n");
        out.push_str(&reasons.join("\n"));
        out.push('\n');
    }
    let changes: Vec<String> = report
        .entities
        .iter()
        .filter_map(|e| {
            let mut parts = Vec::new();
            if let Some(x) = e.existing.as_ref().filter(|x| x.matched > 0) {
                parts.push(format!(
                    "{} met existing rows ({} by values; on_existing {}: {} updated, {} unchanged, {} skipped)",
                    thousands(x.matched),
                    thousands(x.matched_by_values),
                    x.on_existing,
                    thousands(x.updated),
                    thousands(x.unchanged),
                    thousands(x.skipped)
                ));
            }
            if let Some(m) = e.missing.as_ref().filter(|m| m.count > 0) {
                parts.push(format!(
                    "{} gone from the source (on_missing {}: {} deleted, {} kept because referenced; see missing/{}.csv)",
                    thousands(m.count),
                    m.on_missing,
                    thousands(m.deleted),
                    thousands(m.kept_referenced),
                    md(&e.entity)
                ));
            }
            if let Some(n) = e.similar_pairs.filter(|n| *n > 0) {
                parts.push(format!("{} pairs look alike (see similar/{}.csv; not merged)", thousands(n), md(&e.entity)));
            }
            if let Some(n) = e.links_created.filter(|n| *n > 0) {
                parts.push(format!("{} links added to entity_links", thousands(n)));
            }
            (!parts.is_empty()).then(|| format!("- {}: {}", md(&e.entity), parts.join("; ")))
        })
        .collect();
    if !changes.is_empty() {
        out.push_str("\nRows you already had:\n");
        out.push_str(&changes.join("\n"));
        out.push('\n');
    }
    let differ = mismatches(report);
    let checked: usize = report.entities.iter().map(|e| e.fingerprints.len()).sum();
    if checked > 0 {
        if differ.is_empty() {
            out.push_str(&format!("\nData check: all {checked} loaded columns match the platform.\n"));
        } else {
            out.push_str(&format!("\nData check: **columns that differ:** {}\n", differ.join(", ")));
        }
    }
    if !report.warnings.is_empty() {
        out.push_str("\nWarnings:\n");
        for w in &report.warnings {
            out.push_str(&format!(
                "- {}{}: `{}` × {}\n",
                md(&w.entity),
                w.column.as_deref().map(|c| format!(".{}", md(c))).unwrap_or_default(),
                w.code,
                thousands(w.count)
            ));
        }
    }
    for src in &report.sources {
        if let Some(t) = &src.transport {
            out.push_str(&format!("\nSource {} was read over this connection: {}.\n", md(&src.name), md(t)));
        }
    }
    for src in &report.sources {
        if let Some(w) = &src.window {
            out.push_str(&format!("\nSource {}: {}.\n", md(&src.name), md(&window_text(w))));
        }
    }
    for src in report.sources.iter().filter(|s| !s.parts.is_empty()) {
        let parts: Vec<String> =
            src.parts.iter().map(|p| format!("{} ({})", md(&p.range), thousands(p.rows))).collect();
        out.push_str(&format!("\nSource {} was read in {} parts: {}.\n", md(&src.name), parts.len(), parts.join("; ")));
        if let Some(note) = &src.consistency {
            out.push_str(&format!("{}\n", md(note)));
        }
    }
    out.push_str(&format!(
        "\nRun `{}`, organisation `{}`, status {}.\n",
        report.run_id,
        report.org_id,
        report.status.as_str()
    ));
    out
}

/// Text safe inside a Markdown table or line.
fn md(text: &str) -> String {
    text.replace('\\', "\\\\").replace('|', "\\|").replace('<', "&lt;").replace('>', "&gt;").replace('\n', " ")
}

/// An incremental source's window, in words.
fn window_text(w: &migrate_engine::Window) -> String {
    let read = match (&w.read_from, &w.mark) {
        (Some(from), Some(to)) => format!("a delta: rows with {} from {from} to {to}", w.cursor),
        (Some(from), None) => format!("a delta: rows with {} from {from}", w.cursor),
        (None, Some(to)) => format!("a full load; the next delta reads from {} = {to}", w.cursor),
        (None, None) => "a full load of an empty source".to_string(),
    };
    use migrate_engine::incremental::DeleteCheck;
    let deletes = match w.deletes {
        DeleteCheck::FullRead => "every key read".to_string(),
        DeleteCheck::KeyScan => format!("deletes found by a key scan of {} keys", w.keys_scanned.unwrap_or(0)),
        DeleteCheck::SoftDelete => "deletes found by the soft-delete column".to_string(),
        DeleteCheck::NotChecked => "deletes not looked for in this delta".to_string(),
    };
    format!("{read} ({deletes})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        for (n, s) in [(0, "0"), (999, "999"), (1000, "1,000"), (12345, "12,345"), (1234567, "1,234,567")] {
            assert_eq!(thousands(n), s);
        }
    }

    /// A succeeded run's report with one source and nothing else.
    fn with_source(source: migrate_engine::SourceInfo) -> RunReport {
        let now = chrono::Utc::now();
        RunReport {
            schema_version: 1,
            run_id: uuid::Uuid::nil(),
            org_id: uuid::Uuid::nil(),
            mapping: migrate_engine::MappingInfo { name: "m".into(), path: "m.toml".into(), sha256: String::new() },
            status: migrate_engine::RunStatus::Succeeded,
            error: None,
            started_at: now,
            finished_at: now,
            sources: vec![source],
            entities: Vec::new(),
            warnings: Vec::new(),
            decisions: Vec::new(),
        }
    }

    #[test]
    fn split_reads_are_shown_with_their_ranges_and_guarantee() {
        let report = with_source(migrate_engine::SourceInfo {
            name: "orders".into(),
            kind: "mysql".into(),
            parts: vec![
                migrate_engine::SourcePart { range: "id < 500".into(), rows: 499 },
                migrate_engine::SourcePart { range: "id is <NULL>".into(), rows: 2 },
            ],
            consistency: Some("read in 2 parts on separate connections".into()),
            ..Default::default()
        });
        let html = render_html(&report);
        assert!(html.contains("Source orders, read in 2 parts"), "{html}");
        assert!(html.contains("id is &lt;NULL&gt;"), "escaped");
        assert!(html.contains("read in 2 parts on separate connections"));
        let md = render_markdown(&report);
        assert!(md.contains("Source orders was read in 2 parts: id &lt; 500 (499); id is &lt;NULL&gt; (2)."), "{md}");
    }

    #[test]
    fn a_long_location_wraps_only_between_directories() {
        let path = "/srv/onboarding/acme-corporation/exports/2024-11-30/contacts<&>/211.csv";
        let report = with_source(migrate_engine::SourceInfo {
            name: "contacts".into(),
            kind: "csv".into(),
            location: format!("{path}:340"),
            ..Default::default()
        });
        let html = render_html(&report);
        let cell = "<td class=\"code loc\">/<wbr>srv/<wbr>onboarding/<wbr>acme-corporation/<wbr>exports/<wbr>\
                    2024-11-30/<wbr>contacts&lt;&amp;&gt;/<wbr>211.csv:340</td>";
        assert!(html.contains(cell), "{html}");
        // The location cells break words normally: the file name and its
        // line number stay together.
        assert!(html.contains("td.loc { word-break: normal; overflow-wrap: normal; }"));
    }

    #[test]
    fn markdown_cells_cannot_break_the_table() {
        assert_eq!(md("a|b<script>\nx"), "a\\|b&lt;script&gt; x");
    }
}
