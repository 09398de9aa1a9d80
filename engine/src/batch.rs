use polars::prelude::*;

use crate::location::SourceLocation;

/// Text a source puts in one batch before sending it, whatever its row
/// count: rows of large values (a 16 MB document, a 1 MB field per row)
/// make smaller batches, so memory stays bounded by this, not by rows.
/// A batch is held several times over while it is read, mapped and staged
/// (its rows, its columns, rejected rows with their fields), and several
/// are in flight: at 8 MiB a run's pipeline stays within 1 GiB (measured:
/// bench/RESULTS.md, hostile uploads).
pub const MAX_BATCH_BYTES: usize = 8 << 20;

/// A slice of a source: every column as nullable text (never inferred, so
/// `00123` stays `00123`), plus where each row came from.
#[derive(Debug, Clone)]
pub struct Batch {
    pub frame: DataFrame,
    pub locations: Vec<SourceLocation>,
    /// Rows the source could read but not make sense of (a CSV record with
    /// more fields than the header); the engine rejects them.
    pub malformed: Vec<MalformedRow>,
    /// What the source did to values that the report should count (bytes
    /// that did not decode, a header name made unique).
    pub notes: Vec<SourceNote>,
}

/// A counted event from a source, reported per column like a transform's.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceNote {
    pub row: usize,
    pub column: String,
    pub code: &'static str,
    pub example: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MalformedRow {
    pub row: usize,
    pub reason: crate::reject::RejectReason,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("batch has {rows} rows but {locations} locations")]
    LocationCount { rows: usize, locations: usize },
    #[error("column {column:?} is not text")]
    NotText { column: String },
    #[error(transparent)]
    Polars(#[from] PolarsError),
}

impl Batch {
    /// Builds a batch from column names and row-major text values.
    pub fn from_rows(
        columns: &[String],
        rows: Vec<Vec<Option<String>>>,
        locations: Vec<SourceLocation>,
    ) -> Result<Self, BatchError> {
        if rows.len() != locations.len() {
            return Err(BatchError::LocationCount { rows: rows.len(), locations: locations.len() });
        }
        let height = rows.len();
        let mut by_column: Vec<Vec<Option<String>>> = columns.iter().map(|_| Vec::with_capacity(height)).collect();
        for mut row in rows {
            row.resize(columns.len(), None);
            for (values, value) in by_column.iter_mut().zip(row) {
                values.push(value);
            }
        }
        let cols =
            columns.iter().zip(by_column).map(|(name, values)| Column::new(name.as_str().into(), values)).collect();
        Ok(Self { frame: DataFrame::new(height, cols)?, locations, malformed: Vec::new(), notes: Vec::new() })
    }

    pub fn height(&self) -> usize {
        self.frame.height()
    }

    pub fn column_names(&self) -> Vec<String> {
        self.frame.columns().iter().map(|c| c.name().to_string()).collect()
    }

    /// One text column, by source name.
    pub fn text(&self, column: &str) -> Result<&StringChunked, BatchError> {
        let col = self.frame.column(column)?;
        col.str().map_err(|_| BatchError::NotText { column: column.to_string() })
    }

    /// Every source field of one row, in column order, for reject files.
    pub fn row_values(&self, row: usize) -> Vec<Option<String>> {
        self.frame.columns().iter().map(|c| c.str().ok().and_then(|s| s.get(row)).map(str::to_string)).collect()
    }
}

/// Header names made usable: an empty name becomes `column_N`, a repeated
/// one gets `_2`, `_3`; each change is returned as (new name, why).
pub fn unique_header_names(raw: Vec<String>) -> (Vec<String>, Vec<(String, String)>) {
    let mut names: Vec<String> = Vec::with_capacity(raw.len());
    let mut changes = Vec::new();
    for (i, name) in raw.into_iter().enumerate() {
        let mut fixed = if name.is_empty() { format!("column_{}", i + 1) } else { name.clone() };
        let mut n = 2;
        while names.contains(&fixed) {
            fixed = format!("{name}_{n}");
            n += 1;
        }
        if fixed != name {
            let why = if name.is_empty() {
                format!("column {} has no name", i + 1)
            } else {
                format!("{name:?} appears more than once")
            };
            changes.push((fixed.clone(), why));
        }
        names.push(fixed);
    }
    (names, changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_rows_are_padded_with_nulls_and_values_stay_text() {
        let columns = vec!["id".to_string(), "zip".to_string()];
        let rows = vec![vec![Some("1".into()), Some("00123".into())], vec![Some("2".into())]];
        let locations = (1..=2).map(|line| SourceLocation::Line { file: "f".into(), line }).collect();
        let batch = Batch::from_rows(&columns, rows, locations).unwrap();
        assert_eq!(batch.height(), 2);
        assert_eq!(batch.text("zip").unwrap().get(0), Some("00123"));
        assert_eq!(batch.text("zip").unwrap().get(1), None);
        assert_eq!(batch.row_values(1), vec![Some("2".to_string()), None]);
    }

    #[test]
    fn header_names_are_made_unique_and_every_change_said() {
        let (names, changes) =
            unique_header_names(vec!["id".into(), "".into(), "Email".into(), "Email".into(), "Email".into()]);
        assert_eq!(names, vec!["id", "column_2", "Email", "Email_2", "Email_3"]);
        assert_eq!(changes.len(), 3);
        assert_eq!(changes[1], ("Email_2".to_string(), "\"Email\" appears more than once".to_string()));
    }

    #[test]
    fn a_location_per_row_is_required() {
        let columns = vec!["id".to_string()];
        let err = Batch::from_rows(&columns, vec![vec![None]], vec![]).unwrap_err();
        assert!(matches!(err, BatchError::LocationCount { rows: 1, locations: 0 }));
    }
}
