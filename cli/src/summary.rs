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
    let (_, headline, detail) = migrate_connectors::verdict(report);
    format!("run {} {}\n{t}\n{headline} {detail}", report.run_id, report.status.as_str())
}
