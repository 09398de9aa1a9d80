//! `migrate init SOURCE --entity ENTITY [--out FILE]`.

use std::path::{Path, PathBuf};

use crate::exit;

/// How the mapping at `out` names `source`: relative to the mapping's
/// folder when the source is below it, else absolute.
fn source_path(source: &Path, out: Option<&Path>) -> String {
    let Some(out) = out else { return source.display().to_string() };
    let folder = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let absolute = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (src, dir): (PathBuf, PathBuf) = (absolute(source), absolute(folder));
    match src.strip_prefix(&dir) {
        Ok(rel) => rel.display().to_string(),
        Err(_) => src.display().to_string(),
    }
}

pub async fn run(source: &Path, entity: &str, out: Option<&Path>) -> u8 {
    let inspection = match migrate_app::inspect(source).await {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let proposal = match migrate_app::propose(&inspection, entity, &source_path(source, out)) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    for (column, header, score) in &proposal.matches {
        eprintln!("{entity}.{column} ← {header:?} (score {score:.2})");
    }
    for (column, header, values) in &proposal.unmatched_values {
        let shown: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
        let why = if values.is_empty() {
            "has too many distinct values to map".to_string()
        } else {
            format!("holds {} (none of {column}'s allowed values)", shown.join(", "))
        };
        eprintln!(
            "{entity}.{column}: {header:?} {why}: kept in custom_fields, with a map to fill in (see the mapping's comments)"
        );
    }
    // The proposal, previewed on the rows inspect sampled, as if saved
    // where it goes (printed: in the current folder).
    let at = out.map_or_else(|| PathBuf::from("mapping.toml"), Path::to_path_buf);
    match migrate_app::check_proposal(&proposal.mapping, &at, inspection.rows_sampled as usize).await {
        Ok(c) => {
            let rejected: usize = c.rejected.iter().map(|r| r.2).sum();
            let filtered = if c.filtered > 0 { format!(", {} filtered", c.filtered) } else { String::new() };
            eprintln!("preview on the {} sampled rows: {} mapped, {rejected} rejected{filtered}", c.read, c.mapped);
            for (column, reason, n, value, message) in &c.rejected {
                eprintln!("  {reason} ×{n} in {column}, e.g. {value:?}: {message}");
            }
        }
        Err(e) => eprintln!("preview on the sampled rows failed: {e}"),
    }
    match out {
        None => print!("{}", proposal.mapping),
        Some(path) => {
            if let Err(e) = std::fs::write(path, &proposal.mapping) {
                eprintln!("error: cannot write {}: {e}", path.display());
                return exit::FAILED;
            }
            eprintln!("wrote {}; next: migrate validate {}", path.display(), path.display());
        }
    }
    exit::OK
}
