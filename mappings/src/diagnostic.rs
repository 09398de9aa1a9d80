//! Mapping errors reported the way a compiler reports them: file, line,
//! column, the offending text underlined, and what would be valid.

use std::fmt;
use std::ops::Range;

use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    /// Byte range in the mapping text.
    pub span: Range<usize>,
    /// Shown under the underline.
    pub label: String,
    /// What would be valid.
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(span: Range<usize>, message: impl Into<String>) -> Self {
        Self { severity: Severity::Error, message: message.into(), span, label: String::new(), help: None }
    }

    pub fn warning(span: Range<usize>, message: impl Into<String>) -> Self {
        Self { severity: Severity::Warning, ..Self::error(span, message) }
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// Diagnostics of one mapping file, ready to show.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    pub path: String,
    pub text: String,
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter().filter(|d| d.severity == Severity::Error)
    }

    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }

    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let before = self.text.get(..offset).unwrap_or(&self.text);
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }

    /// Renders every diagnostic; `color` for a terminal.
    pub fn render(&self, color: bool) -> String {
        let renderer = if color { Renderer::styled() } else { Renderer::plain() };
        let mut out = String::new();
        for d in &self.items {
            let level = match d.severity {
                Severity::Error => Level::ERROR,
                Severity::Warning => Level::WARNING,
            };
            let span = clamp(&d.span, self.text.len());
            let mut groups = vec![
                level.primary_title(d.message.as_str()).element(
                    Snippet::source(self.text.as_str())
                        .path(self.path.as_str())
                        .fold(true)
                        .annotation(AnnotationKind::Primary.span(span).label(d.label.as_str())),
                ),
            ];
            if let Some(help) = &d.help {
                groups.push(Group::with_title(Level::HELP.secondary_title(help.as_str())));
            }
            out.push_str(&renderer.render(&groups));
            out.push_str("\n\n");
        }
        let errors = self.errors().count();
        let warnings = self.items.len() - errors;
        if errors > 0 {
            out.push_str(&format!("{}: {errors} error(s), {warnings} warning(s)\n", self.path));
        }
        out
    }
}

fn clamp(span: &Range<usize>, len: usize) -> Range<usize> {
    let start = span.start.min(len);
    start..span.end.clamp(start, len)
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

impl std::error::Error for Diagnostics {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendering_names_file_line_column_and_underlines_the_text() {
        let text = "[contacts]\nemial = \"E-Mail\"\n".to_string();
        let diags = Diagnostics {
            path: "m.toml".into(),
            text,
            items: vec![
                Diagnostic::error(11..16, "unknown target column `emial`")
                    .label("not a column of contacts")
                    .help("did you mean `email`?"),
            ],
        };
        let out = diags.render(false);
        assert!(out.contains("m.toml:2:1"), "{out}");
        assert!(out.contains("^^^^^"), "{out}");
        assert!(out.contains("did you mean `email`?"), "{out}");
        assert_eq!(diags.line_col(11), (2, 1));
    }
}
