//! `migrate preview MAPPING [--rows N] [--json]`: the first rows of each
//! entity as the run would map them, and the rows it would reject with
//! their reasons. Nothing is written anywhere (the database is not
//! touched: its own checks, such as uniqueness, show only in a run).

use std::path::Path;

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use migrate_engine::map_batch;
use serde_json::json;

use crate::exit;
use crate::validate::checked_mapping;

fn cut(value: &str, width: usize) -> String {
    let one_line = value.replace(['\n', '\r'], " ");
    if one_line.chars().count() <= width {
        one_line
    } else {
        format!("{}…", one_line.chars().take(width - 1).collect::<String>())
    }
}

pub async fn run(path: &Path, rows: usize, json_out: bool) -> u8 {
    let (mapping, sources) = match checked_mapping(path).await {
        Ok(m) => m,
        Err(code) => return code,
    };
    let mut plan = mapping.plan.clone();
    let open = |name: &str| sources.open(name);
    let decided = match migrate_engine::load_rates(&mut plan, &open).await {
        Ok(()) => migrate_engine::infer(&mut plan, &open).await,
        Err(e) => Err(e),
    };
    let decisions = match decided {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let mut out = Vec::new();
    for entity in &plan.entities {
        let mut source = match sources.open_prepared(&entity.source).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: source {}: {e}", entity.source);
                return exit::USAGE;
            }
        };
        let columns: Vec<String> = entity.target_columns().iter().map(|c| c.to_string()).collect();
        let mut mapped_rows: Vec<serde_json::Value> = Vec::new();
        let mut rejected: Vec<serde_json::Value> = Vec::new();
        let mut read = 0usize;
        let mut filtered = 0usize;
        let mut fill = migrate_engine::FillDown::default();
        while read < rows {
            let mut batch = match source.next_batch().await {
                Ok(Some(b)) => b,
                Ok(None) => break,
                Err(e) => {
                    eprintln!("error: source {}: {e}", entity.source);
                    return exit::FAILED;
                }
            };
            if let Err(e) = fill.apply(entity, &mut batch) {
                eprintln!("error: {e}");
                return exit::FAILED;
            }
            let output = match map_batch(entity, &batch, read as u64) {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("error: {e}");
                    return exit::FAILED;
                }
            };
            let take = (rows - read).min(batch.height());
            let mapped_here = output.mapped.source_rows.iter().filter(|r| **r < take).count();
            let rejected_here = output.rejects.iter().filter(|r| r.row < take).count();
            filtered += take - mapped_here - rejected_here;
            for i in 0..output.mapped.height() {
                if output.mapped.source_rows.get(i).is_some_and(|r| *r < take) {
                    let values: serde_json::Map<String, serde_json::Value> = columns
                        .iter()
                        .map(|c| (c.clone(), output.mapped.value(c, i).map_or(serde_json::Value::Null, |v| json!(v))))
                        .collect();
                    mapped_rows.push(json!({
                        "location": output.mapped.locations.get(i),
                        "key": output.mapped.keys.get(i),
                        "values": values,
                    }));
                }
            }
            for r in output.rejects.iter().filter(|r| r.row < take) {
                rejected.push(json!({
                    "location": batch.locations.get(r.row).map(ToString::to_string),
                    "column": r.column,
                    "value": r.value,
                    "reason": r.reason.code(),
                    "message": r.message,
                }));
            }
            read += take;
        }
        out.push(json!({ "entity": entity.entity, "source": entity.source, "read": read, "columns": columns,
                         "rows": mapped_rows, "rejected": rejected, "filtered": filtered }));
    }
    if json_out {
        let doc = json!({ "mapping": mapping.plan.name, "decisions": decisions, "entities": out });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return exit::OK;
    }
    for d in &decisions {
        println!("{}.{}: {} = {} ({})", d.entity, d.column, d.setting, d.decision, d.evidence);
    }
    for e in &out {
        let rows = e["rows"].as_array().cloned().unwrap_or_default();
        let rejected = e["rejected"].as_array().cloned().unwrap_or_default();
        let filtered = match e["filtered"].as_u64().unwrap_or(0) {
            0 => String::new(),
            n => format!(", {n} filtered by the mapping"),
        };
        println!(
            "{} from {}: the first {} source rows → {} mapped, {} rejected{filtered} (nothing written)",
            e["entity"].as_str().unwrap_or(""),
            e["source"].as_str().unwrap_or(""),
            e["read"],
            rows.len(),
            rejected.len()
        );
        let columns: Vec<String> =
            e["columns"].as_array().into_iter().flatten().filter_map(|c| c.as_str().map(str::to_string)).collect();
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Disabled);
        let mut header = vec!["key".to_string()];
        header.extend(columns.iter().cloned());
        t.set_header(header);
        for r in &rows {
            let mut cells = vec![cut(r["key"].as_str().unwrap_or(""), 16)];
            for c in &columns {
                cells.push(cut(r["values"][c].as_str().unwrap_or(""), 28));
            }
            t.add_row(cells);
        }
        println!("{t}");
        if !rejected.is_empty() {
            let mut t = Table::new();
            t.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Disabled);
            t.set_header(["where", "column", "value", "reason", "why"]);
            for r in &rejected {
                t.add_row([
                    cut(r["location"].as_str().unwrap_or(""), 40),
                    r["column"].as_str().unwrap_or("").to_string(),
                    cut(r["value"].as_str().unwrap_or(""), 24),
                    r["reason"].as_str().unwrap_or("").to_string(),
                    cut(r["message"].as_str().unwrap_or(""), 60),
                ]);
            }
            println!("rejected:\n{t}");
        }
    }
    exit::OK
}
