//! `migrate report DIR/report.json [--html OUT] [--format md|text] [--verify]`.

use std::path::{Path, PathBuf};

use migrate_engine::RunReport;
use migrate_postgres::ConnectionConfig;

use crate::{env, exit, summary};

pub async fn report(path: &Path, html: Option<PathBuf>, format: Option<&str>, verify: bool) -> u8 {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", path.display());
            return exit::USAGE;
        }
    };
    let mut report: RunReport = match serde_json::from_str(&text) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {} is not a migrate report: {e}", path.display());
            return exit::USAGE;
        }
    };
    let mut code = exit::OK;
    if verify {
        let config = match ConnectionConfig::from_env(&env) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::USAGE;
            }
        };
        let recorded: Vec<(String, Vec<migrate_engine::ColumnCheck>)> = report
            .entities
            .iter()
            .filter(|e| !e.fingerprints.is_empty())
            .map(|e| (e.entity.clone(), e.fingerprints.clone()))
            .collect();
        if recorded.is_empty() {
            eprintln!("error: {} records no fingerprints to check (a failed or dry run)", path.display());
            return exit::USAGE;
        }
        match migrate_postgres::verify_run(&config, report.org_id, report.run_id, &recorded).await {
            Ok(fresh) => {
                for v in fresh {
                    let entity = &v.entity;
                    if let Some((later, finished)) = v.superseded_by {
                        let when = finished.map(|f| format!(", finished {}", f.format("%Y-%m-%d %H:%M:%S UTC")));
                        println!(
                            "{entity}: run {} was superseded by run {later}{}, which re-loaded its rows \
                             ({} of them are still last written by run {}); checking run {later}",
                            report.run_id,
                            when.unwrap_or_default(),
                            v.still_its_own,
                            report.run_id
                        );
                    }
                    let differ: Vec<&migrate_engine::ColumnCheck> = v.checks.iter().filter(|c| !c.matches).collect();
                    let own = v.run_id == report.run_id;
                    let whose = if own { "the run".to_string() } else { format!("run {}", v.run_id) };
                    let loaded = if own { "loaded".to_string() } else { format!("run {} loaded", v.run_id) };
                    if differ.is_empty() {
                        println!("{entity}: all {} columns match what {whose} loaded", v.checks.len());
                    } else {
                        code = exit::FAILED;
                        for c in &differ {
                            println!(
                                "{entity}.{}: differs — {loaded} {} values (hash {}), the target now holds {} values (hash {})",
                                c.column, c.published.non_null, c.published.hash, c.target.non_null, c.target.hash
                            );
                        }
                    }
                    if let Some(e) = report.entities.iter_mut().find(|e| e.entity == *entity) {
                        e.fingerprints = v.checks;
                    }
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                return exit::FAILED;
            }
        }
    }
    if let Some(out) = &html {
        if let Err(e) = std::fs::write(out, migrate_app::render_html(&report)) {
            eprintln!("error: cannot write {}: {e}", out.display());
            return exit::FAILED;
        }
        println!("html: {}", out.display());
    }
    match format {
        Some("md") => print!("{}", migrate_app::render_markdown(&report)),
        Some(_) => println!("{}", summary::table(&report)),
        None if html.is_none() && !verify => println!("{}", summary::table(&report)),
        None => {}
    }
    code
}
