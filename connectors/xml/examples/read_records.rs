//! Reads every record of an XML file and prints the count or the error:
//! for measuring memory (`/usr/bin/time -v`), see bench/hostile_inputs.sh.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use migrate_engine::Source;
use migrate_xml::XmlSourceConfig;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: read_records FILE RECORD_PATH FIELD_PATH");
    let record = args.next().expect("record path");
    let field = args.next().expect("field path");
    let config = XmlSourceConfig {
        path,
        record,
        fields: [("value".to_string(), field)].into_iter().collect(),
        namespaces: Default::default(),
        max_depth: 256,
        max_field_bytes: 1 << 20,
        batch_size: 10_000,
        trim: true,
    };
    let mut source = config.build(std::path::Path::new("")).unwrap();
    let mut rows = 0;
    loop {
        match source.next_batch().await {
            Ok(Some(batch)) => rows += batch.height(),
            Ok(None) => break,
            Err(e) => {
                println!("refused after {rows} rows: {e}");
                return;
            }
        }
    }
    println!("{rows} rows");
}
