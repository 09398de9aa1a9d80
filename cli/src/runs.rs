use migrate_postgres::{ConnectionConfig, clean_stale_staging, list_runs, show_run};

use crate::{RunsAction, env, exit};

pub async fn runs(action: RunsAction, org: Option<String>) -> u8 {
    let config = match ConnectionConfig::from_env(&env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let org = || -> Result<uuid::Uuid, u8> {
        let Some(text) = org.clone().or_else(|| env("ORG_ID")) else {
            eprintln!("error: which org? pass --org ORG_ID or set ORG_ID");
            return Err(exit::USAGE);
        };
        uuid::Uuid::parse_str(&text).map_err(|_| {
            eprintln!("error: org {text:?} is not a UUID");
            exit::USAGE
        })
    };
    let result = match action {
        RunsAction::List { limit } => {
            let org = match org() {
                Ok(o) => o,
                Err(code) => return code,
            };
            list_runs(&config, org, limit).await.map(|runs| {
                for r in runs {
                    println!(
                        "{}  {:<11}  {}  {}  {}",
                        r.run_id,
                        r.status,
                        r.started_at.format("%Y-%m-%d %H:%M:%S"),
                        r.source_system,
                        r.mapping_name
                    );
                }
            })
        }
        RunsAction::Show { run_id } => {
            let org = match org() {
                Ok(o) => o,
                Err(code) => return code,
            };
            let Ok(run_id) = uuid::Uuid::parse_str(&run_id) else {
                eprintln!("error: {run_id:?} is not a run id");
                return exit::USAGE;
            };
            match show_run(&config, org, run_id).await {
                Ok(Some(r)) => {
                    println!("run {}  {}  {}  {}", r.run_id, r.status, r.source_system, r.mapping_name);
                    if let Some(e) = &r.error {
                        println!("error: {e}");
                    }
                    if let Some(report) = &r.report {
                        println!("{}", serde_json::to_string_pretty(report).unwrap_or_default());
                    }
                    Ok(())
                }
                Ok(None) => {
                    eprintln!("error: no run {run_id} in org {org}");
                    return exit::USAGE;
                }
                Err(e) => Err(e),
            }
        }
        RunsAction::Clean => clean_stale_staging(&config).await.map(|n| println!("dropped {n} staging table(s)")),
    };
    match result {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("error: {e}");
            exit::FAILED
        }
    }
}
