//! Reads one table's rows of a dump and prints how many (for the memory
//! benchmark, bench/sql_dump.py): `read_rows FILE TABLE`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use migrate_engine::Source;
use migrate_sqldump::SqlDumpSourceConfig;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: read_rows FILE TABLE");
    let table = args.next().expect("table");
    let mut source = SqlDumpSourceConfig::for_path(path, table).build(std::path::Path::new("")).unwrap();
    let mut rows = 0;
    while let Some(batch) = source.next_batch().await.unwrap() {
        rows += batch.height();
    }
    let skipped: u64 = source.other_tables().values().sum();
    println!("{rows} rows, {skipped} rows of other tables skipped");
}
