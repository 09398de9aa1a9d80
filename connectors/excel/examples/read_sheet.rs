//! Reads every row of a workbook's first sheet and prints the count: for
//! measuring memory (`/usr/bin/time -v`), see bench/excel_memory.sh.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use migrate_engine::Source;
use migrate_excel::ExcelSourceConfig;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let path = std::env::args().nth(1).expect("usage: read_sheet FILE");
    let mut source = ExcelSourceConfig::for_path(path).build(std::path::Path::new("")).unwrap();
    let mut rows = 0;
    while let Some(batch) = source.next_batch().await.unwrap() {
        rows += batch.height();
    }
    println!("{rows} rows, columns {:?}", source.columns());
}
