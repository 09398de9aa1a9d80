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
    let inspection = match migrate_connectors::inspect(source).await {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let proposal = match migrate_connectors::propose(&inspection, entity, &source_path(source, out)) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    for (column, header, score) in &proposal.matches {
        eprintln!("{entity}.{column} ← {header:?} (score {score:.2})");
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
