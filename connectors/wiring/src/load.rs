use std::path::Path;

use migrate_mappings::{Diagnostic, Diagnostics, Mapping, parse_lenient};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read mapping {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(Diagnostics),
}

/// Reads and checks a mapping file (no source is opened). Only invalid TOML
/// is an `Err`; other mistakes are in `Mapping::errors`, so that sources can
/// still be checked and every mistake shown at once.
pub fn load_mapping(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Mapping, LoadError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read { path: shown.clone(), source })?;
    parse_lenient(&shown, &text, env).map_err(LoadError::Invalid)
}

/// An error about a whole source block, at its name.
pub(crate) fn at_block(mapping: &Mapping, name: &str, message: String) -> Diagnostic {
    let span = mapping.sources.iter().find(|s| s.name == name).map_or(0..0, |s| s.span.clone());
    Diagnostic::error(span, message).label(format!("[sources.{name}]"))
}
