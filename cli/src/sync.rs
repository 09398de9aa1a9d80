//! `migrate sync MAPPING [--follow]`: deltas, one run after another, until
//! the sources are caught up (or, with `--follow`, until stopped).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::exit;
use crate::run::{RunArgs, run_once};

/// What `migrate sync` was asked, besides the mapping.
pub struct SyncArgs {
    pub out: Option<PathBuf>,
    pub follow: bool,
    pub interval: u64,
    pub quiet: bool,
}

/// Whether every incremental source of the run in `dir` read to its end
/// (a binlog read that stopped at its batch's cap did not).
fn caught_up(dir: &Path) -> bool {
    let report = std::fs::read_to_string(dir.join("report.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
    report.is_some_and(|r| {
        r["sources"].as_array().into_iter().flatten().all(|s| s["window"]["caught_up"].as_bool() != Some(false))
    })
}

pub async fn sync(path: &Path, args: SyncArgs) -> u8 {
    let dir = args.out.unwrap_or_else(|| PathBuf::from("migrate-out").join(format!("sync-{}", uuid::Uuid::new_v4())));
    // SIGTERM or Ctrl-C: the batch in hand is finished and published, its
    // position saved, and sync exits 0. A second one leaves at once
    // (nothing of that batch is published).
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    tokio::spawn(async move {
        let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else { return };
        for _ in 0..2 {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            if flag.swap(true, Ordering::Relaxed) {
                std::process::exit(exit::CANCELLED.into());
            }
            eprintln!("\nstopping: the batch in hand is published first (again to stop at once)");
        }
    });
    // A run is never cancelled here: stopping waits for its publish.
    let never = AtomicBool::new(false);
    let mut n = 0u32;
    loop {
        n += 1;
        let out = dir.join(format!("{n:05}"));
        let run = RunArgs { out: Some(out.clone()), dry_run: false, quiet: args.quiet, max_rejects: None };
        let code = run_once(path, run, &never).await;
        if code != exit::OK {
            return code;
        }
        if stop.load(Ordering::Relaxed) {
            eprintln!("stopped after run {n}: its position is saved");
            return exit::OK;
        }
        if !caught_up(&out) {
            continue;
        }
        if !args.follow {
            return exit::OK;
        }
        // Caught up: wait for the interval, or for a stop.
        for _ in 0..args.interval.max(1) * 10 {
            if stop.load(Ordering::Relaxed) {
                eprintln!("stopped after run {n}: its position is saved");
                return exit::OK;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
