//! Excel source: xlsx, xlsm, xlsb, xls and ods workbooks (calamine), one
//! sheet as text batches, each row located as `Sheet!A17`.
//!
//! xlsx/xlsm are streamed cell by cell on a reader thread, so a sheet that
//! declares a huge dimension costs only the cells it has; xlsb, xls and
//! ods are read whole by calamine, so their file size is capped.

mod cell;
mod config;
mod error;
mod source;

pub use config::{CellRange, ExcelSourceConfig, Merged, SheetRef};
pub use error::ExcelError;
pub use source::ExcelSource;
