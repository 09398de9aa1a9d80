//! Walking the span-carrying TOML tree: typed accessors that record a
//! diagnostic instead of stopping, and `${VAR}` interpolation in place.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diagnostic::Diagnostic;
use crate::interpolate::interpolate;
use crate::suggest::did_you_mean;

pub(crate) struct Checker<'t> {
    pub text: &'t str,
    pub diags: Vec<Diagnostic>,
    /// Every variable looked up, with its value.
    pub env: BTreeMap<String, String>,
    /// Strings whose interpolation failed (already reported).
    pub failed: Vec<Range<usize>>,
}

impl Checker<'_> {
    pub fn table<'v, 'i>(&mut self, value: &'v Spanned<DeValue<'i>>, what: &str) -> Option<&'v DeTable<'i>> {
        match value.get_ref() {
            DeValue::Table(t) => Some(t),
            other => {
                self.diags.push(
                    Diagnostic::error(value.span(), format!("{what} must be a table, found {}", other.type_str()))
                        .label("expected a table"),
                );
                None
            }
        }
    }

    /// A required string key; its value and span.
    pub fn required_str(
        &mut self,
        table: &DeTable,
        key: &str,
        what: &str,
        missing_span: Range<usize>,
    ) -> Option<(String, Range<usize>)> {
        match table.get(key) {
            Some(v) if self.failed.contains(&v.span()) => None,
            Some(v) => match v.get_ref().as_str() {
                Some(s) if !s.trim().is_empty() => Some((s.to_string(), v.span())),
                Some(_) => {
                    self.diags.push(Diagnostic::error(v.span(), format!("{what} {key} is empty")).label("empty"));
                    None
                }
                None => {
                    self.diags.push(
                        Diagnostic::error(
                            v.span(),
                            format!("{what} {key} must be a string, found {}", v.get_ref().type_str()),
                        )
                        .label("expected a string"),
                    );
                    None
                }
            },
            None => {
                self.diags.push(
                    Diagnostic::error(missing_span, format!("{what} is missing `{key}`"))
                        .label(format!("add {key} = \"…\"")),
                );
                None
            }
        }
    }

    pub fn unknown_key(&mut self, span: Range<usize>, wrong: &str, what: &str, valid: &[&str]) {
        let d = Diagnostic::error(span, format!("unknown {what} `{wrong}`")).label(format!("not a valid {what}"));
        let d = match did_you_mean(wrong, valid.iter().copied()) {
            Some(s) => d.help(format!("did you mean `{s}`?")),
            None if valid.is_empty() => d,
            None => d.help(format!("expected one of: {}", valid.join(", "))),
        };
        self.diags.push(d);
    }
}

/// Interpolates `${VAR}` in every string value of the tree. Keys are never
/// interpolated. Errors point at the reference inside the string.
pub(crate) fn interpolate_tree(table: &mut DeTable, checker: &mut Checker, env: &dyn Fn(&str) -> Option<String>) {
    for (_, value) in table.iter_mut() {
        interpolate_value(value, checker, env);
    }
}

fn interpolate_value(value: &mut Spanned<DeValue>, checker: &mut Checker, env: &dyn Fn(&str) -> Option<String>) {
    let span = value.span();
    match value.get_mut() {
        DeValue::String(s) if s.contains('$') => {
            let recorded = std::cell::RefCell::new(Vec::new());
            let lookup = |name: &str| {
                let v = env(name);
                if let Some(v) = &v {
                    recorded.borrow_mut().push((name.to_string(), v.clone()));
                }
                v
            };
            match interpolate(s, &lookup) {
                Ok(done) => *s = done.into(),
                Err((inner, message)) => {
                    checker.failed.push(span.clone());
                    // Point inside the literal: skip the opening quote(s).
                    let raw = checker.text.get(span.clone()).unwrap_or("");
                    let quote = if raw.starts_with("\"\"\"") || raw.starts_with("'''") { 3 } else { 1 };
                    let start = span.start + quote + inner.start;
                    let end = (span.start + quote + inner.end).min(span.end);
                    checker.diags.push(
                        Diagnostic::error(start..end.max(start), message)
                            .label("cannot interpolate")
                            .help("set the variable in the environment (write $$ for a literal $)"),
                    );
                }
            }
            checker.env.extend(recorded.into_inner());
        }
        DeValue::Array(items) => {
            for item in items.iter_mut() {
                interpolate_value(item, checker, env);
            }
        }
        DeValue::Table(t) => interpolate_tree(t, checker, env),
        _ => {}
    }
}
