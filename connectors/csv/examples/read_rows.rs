//! Reads every row of a CSV file (encoding, delimiter and quoting as given
//! or sniffed) and prints the rows, the rejected ones and the first
//! rejection: for measuring memory on hostile files, see
//! bench/hostile_inputs.sh.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use migrate_csv::{CsvSourceConfig, Quoting};
use migrate_engine::Source;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: read_rows FILE [ENCODING] [rfc4180]");
    let mut config = CsvSourceConfig::for_path(path);
    config.encoding = args.next();
    if args.next().as_deref() == Some("rfc4180") {
        config.quoting = Quoting::Rfc4180;
    }
    let mut source = match config.build(std::path::Path::new("")) {
        Ok(s) => s,
        Err(e) => {
            println!("refused: {e}");
            return;
        }
    };
    let (mut rows, mut rejected, mut first) = (0, 0, None);
    loop {
        match source.next_batch().await {
            Ok(Some(batch)) => {
                rows += batch.height();
                rejected += batch.malformed.len();
                if first.is_none() {
                    first = batch.malformed.first().map(|m| m.message.clone());
                }
            }
            Ok(None) => break,
            Err(e) => {
                println!("refused after {rows} rows: {e}");
                return;
            }
        }
    }
    match first {
        Some(why) => println!("{rows} rows, {rejected} rejected ({why})"),
        None => println!("{rows} rows, 0 rejected"),
    }
}
