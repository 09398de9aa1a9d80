//! Column transforms: small functions over one text column, applied in the
//! order a mapping lists them. Each declares what it takes and gives so a
//! mapping can be checked before a row is read.

mod text;

use polars::prelude::*;

pub use text::{collapse_spaces, lowercase, null_if, trim, uppercase};

/// The kind of value flowing between transforms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Text,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transform {
    Trim,
    Lowercase,
    Uppercase,
    CollapseSpaces,
    /// Values equal to one of these (after the previous transforms) become NULL.
    NullIf(Vec<String>),
}

/// A value a transform could not convert; the row is rejected.
#[derive(Debug, Clone, PartialEq)]
pub struct TransformFailure {
    pub row: usize,
    pub message: String,
}

impl Transform {
    /// Every transform name a mapping may use, for suggestions.
    pub const NAMES: &'static [&'static str] = &["trim", "lowercase", "uppercase", "collapse_spaces", "null_if"];

    pub fn name(&self) -> &'static str {
        match self {
            Transform::Trim => "trim",
            Transform::Lowercase => "lowercase",
            Transform::Uppercase => "uppercase",
            Transform::CollapseSpaces => "collapse_spaces",
            Transform::NullIf(_) => "null_if",
        }
    }

    pub fn input(&self) -> ValueKind {
        ValueKind::Text
    }

    pub fn output(&self) -> ValueKind {
        ValueKind::Text
    }

    /// Applies the transform to a column. Rows it cannot convert come back as
    /// failures (and NULL in the output); the text transforms never fail.
    pub fn apply(&self, column: &StringChunked) -> (StringChunked, Vec<TransformFailure>) {
        let out = match self {
            Transform::Trim => map_text(column, trim),
            Transform::Lowercase => map_text(column, lowercase),
            Transform::Uppercase => map_text(column, uppercase),
            Transform::CollapseSpaces => map_text(column, collapse_spaces),
            Transform::NullIf(values) => map_text(column, |v| null_if(v, values)),
        };
        (out, Vec::new())
    }
}

/// Applies a per-value function column-wise, keeping the column's name.
pub fn map_text<F>(column: &StringChunked, f: F) -> StringChunked
where
    F: Fn(&str) -> Option<String>,
{
    let out: StringChunked = column.iter().map(|v| v.and_then(&f)).collect();
    out.with_name(column.name().clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transforms_keep_nulls_and_the_column_name() {
        let column = StringChunked::new("Email".into(), &[Some("  A@B.COM "), None]);
        let (out, failures) = Transform::Trim.apply(&column);
        let (out, _) = Transform::Lowercase.apply(&out);
        assert!(failures.is_empty());
        assert_eq!(out.name().as_str(), "Email");
        assert_eq!(out.get(0), Some("a@b.com"));
        assert_eq!(out.get(1), None);
    }

    #[test]
    fn every_name_is_listed() {
        let all = [
            Transform::Trim,
            Transform::Lowercase,
            Transform::Uppercase,
            Transform::CollapseSpaces,
            Transform::NullIf(vec![]),
        ];
        for t in all {
            assert!(Transform::NAMES.contains(&t.name()), "{}", t.name());
        }
    }
}
