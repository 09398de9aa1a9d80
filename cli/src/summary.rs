use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use migrate_engine::RunReport;

/// The terminal summary: one line per entity, the numbers the report holds.
pub fn table(report: &RunReport) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header([
        "entity",
        "read",
        "filtered",
        "duplicates",
        "rejected",
        "inserted",
        "updated",
        "unchanged",
        "in target",
        "balanced",
    ]);
    let opt = |v: Option<u64>| v.map_or("-".to_string(), |n| n.to_string());
    for e in &report.entities {
        t.add_row([
            e.entity.clone(),
            e.counts.read.to_string(),
            e.counts.filtered.to_string(),
            e.counts.duplicates.to_string(),
            e.counts.rejected.to_string(),
            e.counts.inserted.to_string(),
            e.counts.updated.to_string(),
            e.counts.unchanged.to_string(),
            opt(e.target_count),
            if e.balanced { "yes".to_string() } else { "NO".to_string() },
        ]);
    }
    let (_, headline, detail) = migrate_app::verdict(report);
    format!("run {} {}\n{t}\n{}{headline} {detail}", report.run_id, report.status.as_str(), warnings(report))
}

/// At most this many warnings are listed; the report holds them all.
const SHOWN_WARNINGS: usize = 10;

/// The report's warnings under the table, one line each (code, count,
/// where, meaning), the largest counts first; empty when there are none.
fn warnings(report: &RunReport) -> String {
    if report.warnings.is_empty() {
        return String::new();
    }
    let mut sorted: Vec<_> = report.warnings.iter().collect();
    sorted.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.code.cmp(&b.code)));
    let mut out = format!("warnings ({}):\n", report.warnings.len());
    for w in sorted.iter().take(SHOWN_WARNINGS) {
        let at = match &w.column {
            Some(c) => format!("{}.{c}", w.entity),
            None => w.entity.clone(),
        };
        out.push_str(&format!("  {} ×{} in {at}", w.code, w.count));
        if let Some(meaning) = migrate_engine::codes::warning_text(&w.code) {
            out.push_str(&format!(": {meaning}"));
        }
        out.push('\n');
    }
    if sorted.len() > SHOWN_WARNINGS {
        out.push_str(&format!("  … and {} more in the report\n", sorted.len() - SHOWN_WARNINGS));
    }
    out
}
