//! `migrate cutover`: the reconciliation after the last delta, and its
//! report (cutover.json, cutover.html, differences/ENTITY.csv).

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use maud::{DOCTYPE, html};
use migrate_engine::cutover::{CUTOVER_SCHEMA_VERSION, CutoverReport};
use migrate_engine::{EngineError, MappingInfo, RunMode, RunOptions};
use migrate_mappings::Mapping;
use migrate_postgres::{ConnectionConfig, PgSink};

use crate::SourceSet;
use crate::report::{checks_table_of, head, thousands};

/// Reads every source whole, compares it with the target, and returns the
/// cutover report (`final_run_id`: the last delta, already published).
pub async fn reconcile_mapping(
    mapping: &Mapping,
    sources: &SourceSet,
    db: ConnectionConfig,
    final_run_id: uuid::Uuid,
    cancel: &AtomicBool,
) -> Result<CutoverReport, EngineError> {
    let started_at = chrono::Utc::now();
    let run_id = uuid::Uuid::new_v4();
    let mut sink = PgSink::new(db);
    let info =
        MappingInfo { name: mapping.plan.name.clone(), path: mapping.path.clone(), sha256: mapping.sha256.clone() };
    let options = RunOptions { run_id, mapping: info.clone(), mode: RunMode::Reconcile, dry_run: true, cancel };
    let open = |name: &str| sources.open(name);
    let (lags, entities) = migrate_engine::reconcile(&mapping.plan, options, &open, &mut sink).await?;
    let reconciled = lags.iter().all(|l| !l.changed_since) && entities.iter().all(|e| e.reconciled);
    Ok(CutoverReport {
        schema_version: CUTOVER_SCHEMA_VERSION,
        kind: "cutover".to_string(),
        org_id: mapping.plan.org_id,
        mapping: info,
        final_run_id,
        reconciliation_run_id: run_id,
        started_at,
        finished_at: chrono::Utc::now(),
        reconciled,
        sources: lags,
        entities,
    })
}

/// Writes cutover.json, cutover.html and, per entity with differences,
/// differences/ENTITY.csv into `dir`. Returns the JSON's path.
pub fn write_cutover(dir: &Path, report: &CutoverReport) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let json = dir.join("cutover.json");
    std::fs::write(&json, serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?)?;
    std::fs::write(dir.join("cutover.html"), render_cutover_html(report))?;
    for e in report.entities.iter().filter(|e| !e.differences.is_empty()) {
        std::fs::create_dir_all(dir.join("differences"))?;
        let mut w = csv::Writer::from_path(dir.join("differences").join(format!("{}.csv", e.entity)))?;
        w.write_record(["_key", "_kind", "_columns", "_values"])?;
        for d in &e.differences {
            let values = if d.values.is_null() { String::new() } else { d.values.to_string() };
            w.write_record([d.key.as_str(), d.kind.as_str(), &d.columns.join(" "), &values])?;
        }
        w.flush()?;
    }
    Ok(json)
}

/// The headline: whether the customer can sign off, and why not.
pub fn cutover_verdict(report: &CutoverReport) -> String {
    let differences: usize = report.entities.iter().map(|e| e.differences.len()).sum();
    let changed: Vec<&str> = report.sources.iter().filter(|s| s.changed_since).map(|s| s.name.as_str()).collect();
    let lag = if changed.is_empty() {
        "source changes not yet applied: 0".to_string()
    } else {
        format!("the source changed after the last delta ({}): stop writes and run cutover again", changed.join(", "))
    };
    if report.reconciled {
        format!("Source and platform agree: {lag}; differences found: 0")
    } else {
        format!("Source and platform do NOT agree: {lag}; differences found: {differences}")
    }
}

/// Plain words for a difference's kind.
fn kind_text(kind: &str) -> &'static str {
    match kind {
        "source_only" => "in the source only",
        "target_only" => "in the platform only",
        _ => "different values",
    }
}

pub fn render_cutover_html(report: &CutoverReport) -> String {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            (head(&format!("Cutover report: {}", report.mapping.name)))
            body {
                header {
                    h1 { "Cutover report: " (report.mapping.name) }
                    div.muted { "Organisation " span.code { (report.org_id) } ", last delta " span.code { (report.final_run_id) } }
                    p.verdict.ok[report.reconciled].bad[!report.reconciled] #verdict { (cutover_verdict(report)) }
                }
                h2 { "Sources" }
                table #sources {
                    thead { tr { th { "source" } th { "kind" } th { "cursor" } th { "applied up to" } th { "source now" } th { "caught up" } } }
                    tbody {
                        @for s in &report.sources {
                            tr class=[s.changed_since.then_some("mismatch")] {
                                td { (s.name) } td { (s.kind) }
                                td.code { (s.cursor.as_deref().unwrap_or("–")) }
                                td.code { (s.applied_mark.as_deref().unwrap_or("–")) }
                                td.code { (s.source_mark.as_deref().unwrap_or("–")) }
                                td { @if s.changed_since { span.no { "no" } } @else { span.yes { "yes" } } }
                            }
                        }
                    }
                }
                h2 { "Entities" }
                table #entities {
                    thead { tr {
                        th { "entity" } th.n { "source rows" } th.n { "filtered" } th.n { "rejected" } th.n { "source keys" }
                        th.n { "platform keys" } th.n { "same" } th.n { "different" } th.n { "source only" } th.n { "platform only" }
                    } }
                    tbody {
                        @for e in &report.entities {
                            tr class=[(!e.reconciled).then_some("mismatch")] {
                                td { (e.entity) } td.n { (thousands(e.source_rows)) } td.n { (thousands(e.filtered)) }
                                td.n { (thousands(e.rejected)) } td.n { (thousands(e.source_keys)) } td.n { (thousands(e.target_keys)) }
                                td.n { (thousands(e.matched)) } td.n { (thousands(e.differing)) }
                                td.n { (thousands(e.source_only)) } td.n { (thousands(e.target_only)) }
                            }
                        }
                    }
                }
                @for e in &report.entities {
                    @if !e.differences.is_empty() {
                        h2 { "Differences in " (e.entity) }
                        p.muted { "Also in differences/" (e.entity) ".csv." }
                        table.differences {
                            thead { tr { th { "key" } th { "what" } th { "columns" } th { "source → platform" } } }
                            tbody {
                                @for d in &e.differences {
                                    tr {
                                        td.code { (d.key) } td { (kind_text(&d.kind)) } td.code { (d.columns.join(", ")) }
                                        td.code { @if !d.values.is_null() { (d.values.to_string()) } }
                                    }
                                }
                            }
                        }
                    }
                    h3 { "Checksums of " (e.entity) }
                    (checks_table_of(&e.checksums, "in the source", "in the platform"))
                }
            }
        }
    };
    page.into_string()
}
