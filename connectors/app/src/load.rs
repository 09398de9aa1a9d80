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
    #[error(
        "mapping {path} is {size} bytes; a mapping file is at most {MAX_MAPPING_BYTES} bytes (1 MiB): is this the data file?"
    )]
    TooLarge { path: String, size: u64 },
    #[error("{0}")]
    Invalid(Diagnostics),
}

/// The largest mapping file read. Real mappings are a few kilobytes; a
/// 14 MB one took 430 MB to check, and the worker reads uploaded ones.
pub const MAX_MAPPING_BYTES: u64 = 1 << 20;

/// Reads and checks a mapping file (no source is opened). Only invalid TOML
/// is an `Err`; other mistakes are in `Mapping::errors`, so that sources can
/// still be checked and every mistake shown at once.
pub fn load_mapping(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Mapping, LoadError> {
    let shown = path.display().to_string();
    let size = std::fs::metadata(path).map_err(|source| LoadError::Read { path: shown.clone(), source })?.len();
    if size > MAX_MAPPING_BYTES {
        return Err(LoadError::TooLarge { path: shown, size });
    }
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read { path: shown.clone(), source })?;
    parse_lenient(&shown, &text, env).map_err(LoadError::Invalid)
}

/// An error about a whole source block, at its name.
pub(crate) fn at_block(mapping: &Mapping, name: &str, message: String) -> Diagnostic {
    let span = mapping.sources.iter().find(|s| s.name == name).map_or(0..0, |s| s.span.clone());
    Diagnostic::error(span, message).label(format!("[sources.{name}]"))
}
