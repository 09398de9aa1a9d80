//! Any bytes as a CSV file read by the source, every option left to the sniffers
//! (encoding, delimiter, quoting, preamble): building and reading never
//! panic, every row has the header's width, lines only go forward, and a
//! rejected row is one of the rows read.
#![no_main]

#[path = "support.rs"]
mod support;

use libfuzzer_sys::fuzz_target;
use migrate_csv::CsvSourceConfig;
use migrate_engine::{Source, SourceLocation};

fuzz_target!(|data: &[u8]| {
    let path = support::scratch("input.csv", data);
    let mut config = CsvSourceConfig::for_path(path.display().to_string());
    config.batch_size = 7;
    config.max_field_bytes = 64;
    let Ok(mut source) = config.build(std::path::Path::new("/")) else { return };
    let width = source.columns().len();
    assert!(width > 0, "a source without columns was built");
    let mut last_line = 0;
    support::block_on(async {
        while let Ok(Some(batch)) = source.next_batch().await {
            assert_eq!(batch.frame.width(), width);
            assert_eq!(batch.locations.len(), batch.height());
            for m in &batch.malformed {
                assert!(m.row < batch.height(), "a rejection past the batch's rows");
            }
            for location in &batch.locations {
                let SourceLocation::Line { line, .. } = location else { panic!("not a line") };
                assert!(*line > last_line, "line {line} after {last_line}");
                last_line = *line;
            }
        }
    });
});
