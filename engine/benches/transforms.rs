//! The transform benchmark: 1M legacy rows with US dates in New York time,
//! dollar amounts and US phone numbers, mapped batch by batch exactly as a
//! run maps them. Prints rows/s and appends them to bench/RESULTS.md.
//!
//! `cargo bench -p migrate-engine --bench transforms [-- ROWS]`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use migrate_engine::transform::{DateOutput, DateSpec, MoneySpec, PhoneSpec, Transform};
use migrate_engine::{Batch, ColumnPlan, EntityPlan, KeySpec, OnExisting, SourceLocation, TargetType, map_batch};
use rayon::prelude::*;

const BATCH: usize = 10_000;

/// A small seeded generator: the same rows every run, no dependency.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

fn batches(rows: usize) -> Vec<Batch> {
    let mut rng = Lcg(42);
    let file: Arc<str> = "bench.csv".into();
    let columns: Vec<String> = ["id", "created", "amount", "phone"].iter().map(|s| s.to_string()).collect();
    (0..rows.div_ceil(BATCH))
        .map(|b| {
            let n = BATCH.min(rows - b * BATCH);
            let mut values = Vec::with_capacity(n);
            let mut locations = Vec::with_capacity(n);
            for i in 0..n {
                let row = b * BATCH + i;
                let created = format!(
                    "{:02}/{:02}/20{:02} {:02}:{:02}",
                    1 + rng.next(12),
                    1 + rng.next(28),
                    10 + rng.next(14),
                    rng.next(24),
                    rng.next(60)
                );
                let amount = match rng.next(4) {
                    0 => format!("${},{:03}.{:02}", 1 + rng.next(999), rng.next(1000), rng.next(100)),
                    1 => format!("(${}.{:02})", rng.next(1000), rng.next(100)),
                    2 => format!("USD {}", rng.next(100_000)),
                    _ => format!("{}.{:02}", rng.next(10_000), rng.next(100)),
                };
                let phone = format!("(212) {}-{:04}", 200 + rng.next(800), rng.next(10_000));
                values.push(vec![Some(format!("C{row}")), Some(created), Some(amount), Some(phone)]);
                locations.push(SourceLocation::Line { file: file.clone(), line: row as u64 + 2 });
            }
            Batch::from_rows(&columns, values, locations).unwrap()
        })
        .collect()
}

fn plan() -> EntityPlan {
    let column = |target: &str, json_key: Option<&str>, from: &str, transforms, target_type| ColumnPlan {
        json_key: json_key.map(str::to_string),
        transforms,
        target_type,
        ..ColumnPlan::from_source(target, from)
    };
    let date = DateSpec {
        formats: migrate_engine::transform::DateFormat::preset("us").unwrap(),
        timezone: "America/New_York".parse().unwrap(),
        output: DateOutput::Timestamp,
        ..DateSpec::default()
    };
    EntityPlan {
        entity: "contacts".into(),
        source: "bench".into(),
        key: KeySpec::Columns(vec!["id".into()]),
        columns: vec![
            column(
                "created_at",
                None,
                "created",
                vec![Transform::Trim, Transform::Date(Box::new(date))],
                TargetType::Timestamp,
            ),
            column(
                "custom_fields",
                Some("ltv"),
                "amount",
                vec![Transform::Money(MoneySpec { default_currency: Some("USD".into()), ..MoneySpec::default() })],
                TargetType::Json,
            ),
            column(
                "phone",
                None,
                "phone",
                vec![Transform::Phone(PhoneSpec { region: Some("US".into()), region_column: None })],
                TargetType::Text,
            ),
        ],
        on_existing: OnExisting::Update,
        dedupe: None,
        match_existing: Vec::new(),
        on_missing: Default::default(),
        max_deleted: migrate_engine::DEFAULT_MAX_DELETED,
        similar: None,
        double_encoded: Default::default(),
        filter: Vec::new(),
    }
}

fn main() {
    let rows: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(1_000_000);
    let input = batches(rows);
    let plan = plan();

    let start = Instant::now();
    let mut rejected = 0;
    for (i, b) in input.iter().enumerate() {
        rejected += map_batch(&plan, b, (i * BATCH) as u64).unwrap().rejects.len();
    }
    let serial = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let parallel_rejected: usize =
        input.par_iter().enumerate().map(|(i, b)| map_batch(&plan, b, (i * BATCH) as u64).unwrap().rejects.len()).sum();
    let parallel = start.elapsed().as_secs_f64();
    assert_eq!(rejected, parallel_rejected);

    // Each column alone, one thread, to see where the time goes.
    let mut per_column = String::new();
    for column in &plan.columns {
        let single = EntityPlan { columns: vec![column.clone()], ..plan.clone() };
        let start = Instant::now();
        for (i, b) in input.iter().enumerate() {
            map_batch(&single, b, (i * BATCH) as u64).unwrap();
        }
        let secs = start.elapsed().as_secs_f64();
        let name = column.transforms.last().map_or("none", |t| t.name());
        per_column.push_str(&format!("| {name} alone, one thread | {secs:.2} | {:.0} |\n", rows as f64 / secs));
    }

    let threads = rayon::current_num_threads();
    let entry = format!(
        "\n## transforms, {rows} rows ({} UTC)\n\nMachine: {} cores. US date in New York time + dollar amount + US phone per row, \
         mapped in batches of {BATCH} (`cargo bench -p migrate-engine --bench transforms`).\n\n\
         | mode | seconds | rows/s |\n| --- | ---: | ---: |\n\
         | one thread, batch after batch | {serial:.2} | {:.0} |\n\
         | {threads} threads, batches in parallel (rayon) | {parallel:.2} | {:.0} |\n{per_column}\n\
         {rejected} rows rejected (impossible phone numbers in the generated data).\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M"),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        rows as f64 / serial,
        rows as f64 / parallel,
    );
    print!("{entry}");
    if cfg!(debug_assertions) {
        println!("(a debug build: not recorded in bench/RESULTS.md)");
        return;
    }
    let results = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/RESULTS.md");
    let mut f = std::fs::OpenOptions::new().append(true).open(results).unwrap();
    f.write_all(entry.as_bytes()).unwrap();
}
