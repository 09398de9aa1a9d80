use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use migrate_app::{OutputDir, RunRequest, run_mapping, write_report};
use migrate_engine::EngineError;
use migrate_postgres::ConnectionConfig;

use crate::progress::Bars;
use crate::validate::checked_mapping;
use crate::{env, exit, summary};

/// What `migrate run` was asked, besides the mapping.
pub struct RunArgs {
    pub out: Option<PathBuf>,
    pub dry_run: bool,
    pub quiet: bool,
    pub max_rejects: Option<migrate_engine::RejectBudget>,
}

pub async fn run(path: &Path, args: RunArgs) -> u8 {
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\ncancelling: nothing will be published (Ctrl-C again to stop at once)");
            flag.store(true, Ordering::Relaxed);
        }
        if tokio::signal::ctrl_c().await.is_ok() {
            // Leaving closes the connections: PostgreSQL rolls back whatever
            // was under way, and the next run marks this one interrupted.
            std::process::exit(exit::CANCELLED.into());
        }
    });
    run_once(path, args, &cancel).await
}

/// One run; `cancel`, once set, stops it before it publishes.
pub async fn run_once(path: &Path, args: RunArgs, cancel: &AtomicBool) -> u8 {
    let RunArgs { out, dry_run, quiet, max_rejects } = args;
    let (mut mapping, sources) = match checked_mapping(path).await {
        Ok(m) => m,
        Err(code) => return code,
    };
    if max_rejects.is_some() {
        mapping.plan.max_rejected = max_rejects;
    }
    let config = match ConnectionConfig::from_env(&env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let run_id = uuid::Uuid::new_v4();
    let dir = out.unwrap_or_else(|| PathBuf::from("migrate-out").join(run_id.to_string()));
    let bars = Bars::new(std::io::stderr().is_terminal() && !quiet);
    let shown = bars.clone();
    let mut output = match OutputDir::create(&dir) {
        Ok(o) => o.on_progress(move |event| shown.update(event)),
        Err(e) => {
            eprintln!("error: cannot create output directory {}: {e}", dir.display());
            return exit::USAGE;
        }
    };

    let request = RunRequest { run_id, dry_run, cancel };
    let (report, error) = run_mapping(&mapping, &sources, config, request, &mut output).await;
    bars.finish();
    if let Err(e) = output.close() {
        eprintln!("error: writing {}: {e}", dir.display());
    }
    let written = write_report(output.path(), &report);
    println!("{}", summary::table(&report));
    match &written {
        Ok(p) => {
            println!("report: {}", p.display());
            println!("html:   {}", p.with_file_name("report.html").display());
        }
        Err(e) => eprintln!("error: cannot write report.json in {}: {e}", dir.display()),
    }
    match error {
        None if written.is_ok() => exit::OK,
        None => exit::FAILED,
        Some(e) => {
            eprintln!("error: {e}");
            match e {
                EngineError::RejectBudgetExceeded { .. } => exit::REJECT_BUDGET,
                EngineError::Cancelled => exit::CANCELLED,
                EngineError::Inference { .. } | EngineError::UnknownSourceColumn { .. } => exit::USAGE,
                _ => exit::FAILED,
            }
        }
    }
}
