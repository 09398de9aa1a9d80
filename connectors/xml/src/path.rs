//! Element paths with namespace-aware segments.

use std::collections::BTreeMap;

use crate::error::XmlError;

/// One step of a path: a local name, and the namespace URI it must be in
/// when the path gave a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub uri: Option<String>,
    pub local: String,
}

/// A field: the element steps below the record, then maybe an attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    /// Levels above the record (`../@id` is 1): an ancestor's attribute,
    /// so child records carry their parent's key.
    pub up: usize,
    pub steps: Vec<Step>,
    pub attribute: Option<Step>,
    pub list: bool,
}

fn step(segment: &str, namespaces: &BTreeMap<String, String>) -> Result<Step, XmlError> {
    match segment.split_once(':') {
        Some((prefix, local)) => match namespaces.get(prefix) {
            Some(uri) => Ok(Step { uri: Some(uri.clone()), local: local.to_string() }),
            None => Err(XmlError::Config(format!("prefix {prefix:?} in {segment:?} is not in `namespaces`"))),
        },
        None if segment.is_empty() => Err(XmlError::Config("an empty path segment".into())),
        None => Ok(Step { uri: None, local: segment.to_string() }),
    }
}

pub fn record_path(path: &str, namespaces: &BTreeMap<String, String>) -> Result<Vec<Step>, XmlError> {
    let trimmed = path
        .strip_prefix('/')
        .ok_or_else(|| XmlError::Config(format!("record {path:?} must start at the root: /Root/Row")))?;
    trimmed.split('/').map(|s| step(s, namespaces)).collect()
}

pub fn field_path(path: &str, namespaces: &BTreeMap<String, String>) -> Result<FieldPath, XmlError> {
    let (path, list) = match path.strip_suffix("[]") {
        Some(p) => (p, true),
        None => (path, false),
    };
    let mut steps = Vec::new();
    let mut attribute = None;
    let mut segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty() && *s != ".").collect();
    let up = segments.iter().take_while(|s| **s == "..").count();
    segments.drain(..up);
    if up > 0 && !(segments.len() == 1 && segments.first().is_some_and(|s| s.starts_with('@'))) {
        return Err(XmlError::Config(format!("{path:?}: above the record only an attribute can be read, like ../@id")));
    }
    for (i, segment) in segments.iter().enumerate() {
        match segment.strip_prefix('@') {
            Some(attr) if i + 1 == segments.len() => attribute = Some(step(attr, namespaces)?),
            Some(_) => return Err(XmlError::Config(format!("{path:?}: an attribute must be the last segment"))),
            None => steps.push(step(segment, namespaces)?),
        }
    }
    if steps.is_empty() && attribute.is_none() && path.trim() != "." {
        return Err(XmlError::Config(format!("field path {path:?} names nothing (\".\" is the record's own text)")));
    }
    Ok(FieldPath { up, steps, attribute, list })
}

impl Step {
    pub fn matches(&self, uri: Option<&str>, local: &str) -> bool {
        self.local == local && self.uri.as_deref().is_none_or(|u| Some(u) == uri)
    }
}
