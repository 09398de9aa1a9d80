//! `migrate cutover MAPPING [--out DIR]`: the last delta, then the
//! reconciliation of every source against the platform.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use migrate_app::{cutover_verdict, reconcile_mapping, thousands, write_cutover};
use migrate_postgres::ConnectionConfig;

use crate::run::RunArgs;
use crate::validate::checked_mapping;
use crate::{env, exit};

pub async fn cutover(path: &Path, out: Option<PathBuf>, quiet: bool) -> u8 {
    let dir = out.unwrap_or_else(|| PathBuf::from("migrate-out").join(format!("cutover-{}", uuid::Uuid::new_v4())));
    let delta_dir = dir.join("final-delta");
    let code =
        crate::run::run(path, RunArgs { out: Some(delta_dir.clone()), dry_run: false, quiet, max_rejects: None }).await;
    if code != exit::OK {
        eprintln!("error: cutover stopped: the last delta did not publish, so nothing was compared");
        return code;
    }
    let final_run = std::fs::read_to_string(delta_dir.join("report.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|r| r["run_id"].as_str().and_then(|id| uuid::Uuid::parse_str(id).ok()));
    let Some(final_run) = final_run else {
        eprintln!("error: cannot read the last delta's run id in {}", delta_dir.display());
        return exit::FAILED;
    };
    let (mapping, sources) = match checked_mapping(path).await {
        Ok(m) => m,
        Err(code) => return code,
    };
    let config = match ConnectionConfig::from_env(&env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    println!("\nreconciling: every source read whole and compared with the platform");
    // Nothing is published: Ctrl-C may stop it at any point.
    let cancel = AtomicBool::new(false);
    let report = match reconcile_mapping(&mapping, &sources, config, final_run, &cancel).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: the reconciliation failed: {e}");
            return exit::FAILED;
        }
    };
    for e in &report.entities {
        println!(
            "{}: {} source keys, {} in the platform; {} the same, {} different, {} in the source only, {} in the platform only",
            e.entity,
            thousands(e.source_keys),
            thousands(e.target_keys),
            thousands(e.matched),
            thousands(e.differing),
            thousands(e.source_only),
            thousands(e.target_only)
        );
    }
    println!("{}", cutover_verdict(&report));
    match write_cutover(&dir, &report) {
        Ok(p) => {
            println!("cutover report: {}", p.display());
            println!("html:           {}", p.with_file_name("cutover.html").display());
        }
        Err(e) => {
            eprintln!("error: cannot write the cutover report in {}: {e}", dir.display());
            return exit::FAILED;
        }
    }
    if report.reconciled { exit::OK } else { exit::DIFFERENCES }
}
