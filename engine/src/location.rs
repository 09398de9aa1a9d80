use std::fmt;
use std::sync::Arc;

/// Where a row came from, precise enough for a customer to find it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceLocation {
    /// A line of a text file: the line on which the record starts (1-based),
    /// which stays right when quoted fields contain newlines.
    Line { file: Arc<str>, line: u64 },
    /// A cell of a spreadsheet, e.g. `Contacts!A17`.
    Cell { file: Arc<str>, sheet: Arc<str>, cell: String },
    /// A database row, named by its table and primary key.
    Key { table: Arc<str>, key: String },
    /// A location already written out (a row found at publish time).
    Described(Arc<str>),
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceLocation::Line { file, line } => write!(f, "{file}:{line}"),
            SourceLocation::Cell { file, sheet, cell } => write!(f, "{file}:{sheet}!{cell}"),
            SourceLocation::Key { table, key } => write!(f, "{table}[{key}]"),
            SourceLocation::Described(text) => write!(f, "{text}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_read_as_a_person_would_search_for_them() {
        let cases = [
            (SourceLocation::Line { file: "a.csv".into(), line: 7 }, "a.csv:7"),
            (
                SourceLocation::Cell { file: "b.xlsx".into(), sheet: "Leads".into(), cell: "C9".into() },
                "b.xlsx:Leads!C9",
            ),
            (SourceLocation::Key { table: "dbo.Orders".into(), key: "42".into() }, "dbo.Orders[42]"),
        ];
        for (location, expected) in cases {
            assert_eq!(location.to_string(), expected);
        }
    }
}
