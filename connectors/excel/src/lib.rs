//! Excel source: xlsx, xlsm, xlsb, xls and ods workbooks (calamine), one
//! sheet as text batches, each row located as `Sheet!A17`.
//!
//! xlsx, xlsm and xlsb are streamed cell by cell on a reader thread, so a
//! sheet that declares a huge dimension costs only the cells it has; xls
//! and ods are read whole by calamine (every sheet a dense grid), so their
//! size and the grids their cells span are priced first. What is
//! held whole (shared strings, a whole xls or ods) is measured before it
//! is read (`max_memory_bytes`), and rows in flight are bounded in bytes.

mod cell;
mod config;
mod error;
mod memory;
mod source;

pub use config::{CellRange, ExcelSourceConfig, Merged, SheetRef};
pub use error::ExcelError;
pub use source::ExcelSource;
