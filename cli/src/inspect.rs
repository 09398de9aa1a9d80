use std::path::Path;

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use migrate_app::{FileKind, InspectError, Inspection, inspect_as, inspect_collection};

use crate::exit;

pub async fn run(path: &Path, collection: Option<&str>, kind: Option<&str>, json: bool) -> u8 {
    let kind = match kind.map(|k| (k, FileKind::parse(k))) {
        None => None,
        Some((_, Some(k))) => Some(k),
        Some((k, None)) => {
            eprintln!("error: --kind {k:?} is not a file kind inspect reads (csv, excel, xml or mongodb)");
            return exit::USAGE;
        }
    };
    let found = match collection {
        Some(c) => inspect_collection(&path.to_string_lossy(), c).await,
        None => inspect_as(path, kind).await,
    };
    let found = match found {
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
        for r in &found.record_fields {
            println!("\nfields of {} (as `fields` names them):", r.record);
            for f in &r.fields {
                let example = f.example.as_deref().map_or(String::new(), |e| format!("  e.g. {e}"));
                println!("  {:>8}  {}{example}", f.count, f.field);
            }
        }
        return exit::OK;
    }
    if found.kind == "mongodb" {
        print_paths(&found);
        return exit::OK;
    }
    println!("header:    {} {}", if found.sheet.is_some() { "row" } else { "line" }, found.header_line);
    if let Some(why) = &found.header_looks_like_data {
        println!("warning:   the header looks like data ({}): {why}", migrate_engine::header::HEADER_LOOKS_LIKE_DATA);
    }
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

/// A document source: every path, its types and how often each appears.
fn print_paths(found: &Inspection) {
    match &found.first_unreadable {
        None => println!("sampled:   {} documents", found.rows_sampled),
        Some(first) => println!(
            "sampled:   {} documents; {} more could not be read (the first: {first}), and their paths are not below",
            found.rows_sampled, found.unreadable
        ),
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(["path", "in documents", "types", "examples"]);
    let share = |n: u64| if found.rows_sampled == 0 { 0.0 } else { n as f64 * 100.0 / found.rows_sampled as f64 };
    for p in &found.paths {
        let mut types = p.types.iter().map(|(t, n)| format!("{t} {n}")).collect::<Vec<_>>().join(", ");
        if !p.element_types.is_empty() {
            let elements = p.element_types.iter().map(|(t, n)| format!("{t} {n}")).collect::<Vec<_>>().join(", ");
            types.push_str(&format!(" (elements: {elements})"));
        }
        if p.mixed {
            types.push_str("  MIXED");
        }
        let path = if p.in_array { format!("{} (in an array)", p.path) } else { p.path.clone() };
        t.add_row([path, format!("{} ({:.0}%)", p.documents, share(p.documents)), types, p.examples.join(" | ")]);
    }
    println!("{t}");
    let mixed: Vec<&str> = found.paths.iter().filter(|p| p.mixed).map(|p| p.path.as_str()).collect();
    if !mixed.is_empty() {
        println!(
            "mixed types: {}. Map each with a transform that rejects what does not convert, or keep it as it is \
             with PATH.$json into a custom_fields key (transform = [\"json\"]).",
            mixed.join(", ")
        );
    }
}
