//! Reads a MongoDB collection or a mongoexport file through the source, as
//! a run would, and prints how many rows it made and how fast: the
//! benchmark's reader (bench/mongodb.sh measures its peak RSS).
//!
//! `read_documents URL COLLECTION` or `read_documents FILE`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use migrate_engine::Source;
use migrate_mongodb::MongoSourceConfig;

/// What the legacy CRM mapping reads.
const COLUMNS: &[&str] = &[
    "_id",
    "name.first",
    "name.last",
    "email",
    "phones.0.number",
    "phones.number",
    "address",
    "since",
    "lifetime_value",
    "score.$json",
    "score.$type",
    "tags",
];

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match args.as_slice() {
        [url, collection] => serde_json::json!({ "url": url, "collection": collection }),
        [file] => serde_json::json!({ "path": file }),
        _ => panic!("usage: read_documents URL COLLECTION | read_documents FILE"),
    };
    let mut config: MongoSourceConfig = serde_json::from_value(config).unwrap();
    config.wanted = COLUMNS.iter().map(|c| c.to_string()).collect();
    let mut source = config.build(std::path::Path::new(""));
    let started = Instant::now();
    source.prepare().await.unwrap_or_else(|e| panic!("{e}"));
    let mut rows = 0u64;
    let mut bytes = 0u64;
    while let Some(batch) = source.next_batch().await.unwrap_or_else(|e| panic!("{e}")) {
        rows += batch.height() as u64;
        bytes += batch.frame.estimated_size() as u64;
    }
    let secs = started.elapsed().as_secs_f64();
    println!("{rows} {secs:.3} {bytes}");
}
