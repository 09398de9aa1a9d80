use std::path::Path;

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use migrate_connectors::{InspectError, inspect};

use crate::exit;

pub async fn run(path: &Path, json: bool) -> u8 {
    let found = match inspect(path).await {
        Ok(i) => i,
        Err(e @ InspectError::UnknownKind { .. }) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return exit::FAILED;
        }
    };
    if json {
        match serde_json::to_string_pretty(&found) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("error: {e}");
                return exit::FAILED;
            }
        }
        return exit::OK;
    }
    println!("file:      {} ({})", found.file, found.kind);
    if let Some(encoding) = &found.encoding {
        println!("encoding:  {encoding} ({})", found.encoding_confidence.as_deref().unwrap_or("?"));
    }
    if let Some(delimiter) = &found.delimiter {
        println!("delimiter: {delimiter}");
    }
    if let Some(quoting) = &found.quoting {
        println!("quoting:   {quoting}");
    }
    if let Some(sheet) = &found.sheet {
        println!("sheets:    {} (described: {sheet})", found.sheets.join(", "));
    }
    if found.kind == "xml" {
        println!("repeated element paths (candidate records):");
        for (path, count) in &found.repeated_paths {
            println!("  {count:>8}  {path}");
        }
        return exit::OK;
    }
    println!("header:    {} {}", if found.sheet.is_some() { "row" } else { "line" }, found.header_line);
    println!("sampled:   {} rows", found.rows_sampled);
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(["column", "guessed type", "empty", "max length", "unique", "examples"]);
    for c in &found.columns {
        t.add_row([
            c.name.clone(),
            c.guessed_type.clone(),
            format!("{:.1}%", c.null_ratio * 100.0),
            c.max_length.to_string(),
            if c.unique { "yes (candidate key)".to_string() } else { "no".to_string() },
            c.examples.join(" | "),
        ]);
    }
    println!("{t}");
    exit::OK
}
