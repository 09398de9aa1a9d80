//! Any bytes as a SQL dump read for one table: reading never panics (a
//! broken statement is an error naming its line), and every row has the
//! table's columns.
#![no_main]

#[path = "support.rs"]
mod support;

use libfuzzer_sys::fuzz_target;
use migrate_engine::Source;
use migrate_sqldump::SqlDumpSourceConfig;

fuzz_target!(|data: &[u8]| {
    let path = support::scratch("input.sql", data);
    let mut config = SqlDumpSourceConfig::for_path(path.display().to_string(), "t");
    config.max_field_bytes = 256;
    config.batch_size = 5;
    let Ok(mut source) = config.build(std::path::Path::new("/")) else { return };
    let width = source.columns().len();
    support::block_on(async {
        while let Ok(Some(batch)) = source.next_batch().await {
            assert_eq!(batch.frame.width(), width);
            assert_eq!(batch.locations.len(), batch.height());
        }
    });
});
