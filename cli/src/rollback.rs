//! `migrate rollback RUN_ID [--org ORG_ID] [--force] [--chain]`.

use migrate_postgres::{ConnectionConfig, RollbackError, rollback_run};

use crate::{env, exit};

pub async fn rollback(run_id: &str, org: Option<String>, force: bool, chain: bool) -> u8 {
    let config = match ConnectionConfig::from_env(&env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let Some(org) = org.or_else(|| env("ORG_ID")) else {
        eprintln!("error: which org? pass --org ORG_ID or set ORG_ID");
        return exit::USAGE;
    };
    let (Ok(org), Ok(run)) = (uuid::Uuid::parse_str(&org), uuid::Uuid::parse_str(run_id)) else {
        eprintln!("error: the org and the run are UUIDs");
        return exit::USAGE;
    };
    match rollback_run(&config, org, run, force, chain).await {
        Ok(done) => {
            for (rolled, entities) in &done {
                for e in entities {
                    match &e.mark {
                        Some(Some(mark)) => println!("{}: back at {mark}", e.entity),
                        Some(None) => println!("{}: removed (the next run is a full load)", e.entity),
                        None => println!("{}: {} removed, {} restored", e.entity, e.removed, e.restored),
                    }
                }
                println!("run {rolled} rolled back");
            }
            exit::OK
        }
        Err(e @ (RollbackError::Unknown { .. } | RollbackError::NotPublished { .. })) => {
            eprintln!("error: {e}");
            exit::USAGE
        }
        Err(e) => {
            eprintln!("error: {e}; nothing was changed");
            exit::FAILED
        }
    }
}
