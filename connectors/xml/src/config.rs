use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::XmlError;
use crate::source::XmlSource;

/// `[sources.NAME]` with `kind = "xml"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XmlSourceConfig {
    /// The file, relative to the mapping file's folder unless absolute.
    pub path: String,
    /// The row element's path from the root: `/Export/Customers/Customer`.
    pub record: String,
    /// Column name → path relative to the record: `Name`, `Address/City`,
    /// `@id`, `Address/@type`; a trailing `[]` collects every match as a
    /// JSON list.
    pub fields: BTreeMap<String, String>,
    /// Prefix (as used in `record` and `fields`) → namespace URI.
    #[serde(default)]
    pub namespaces: BTreeMap<String, String>,
    /// Deeper nesting is refused. Default 256.
    #[serde(default = "default_max_depth")]
    pub max_depth: usize,
    /// A field's text longer than this rejects its record
    /// (`field_too_large`). Default 1 MiB.
    #[serde(default = "default_max_field_bytes")]
    pub max_field_bytes: usize,
    /// Rows per batch. Default 10 000.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Element text is trimmed of the whitespace around it (the document's
    /// indentation), default true; `false` keeps it exactly. Attribute
    /// values are never trimmed.
    #[serde(default = "default_trim")]
    pub trim: bool,
}

fn default_trim() -> bool {
    true
}

fn default_max_depth() -> usize {
    256
}

fn default_max_field_bytes() -> usize {
    1 << 20
}

fn default_batch_size() -> usize {
    10_000
}

impl XmlSourceConfig {
    pub fn resolved_path(&self, base_dir: &Path) -> PathBuf {
        let p = Path::new(&self.path);
        if p.is_absolute() { p.to_path_buf() } else { base_dir.join(p) }
    }

    pub fn build(&self, base_dir: &Path) -> Result<XmlSource, XmlError> {
        if self.batch_size == 0 {
            return Err(XmlError::Config("batch_size must be at least 1".into()));
        }
        XmlSource::open(self, &self.resolved_path(base_dir))
    }
}
