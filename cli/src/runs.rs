use migrate_postgres::{ConnectionConfig, clean_stale_staging, list_marks, list_runs, show_run};

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
            match list_runs(&config, org, limit).await {
                Ok(runs) => {
                    for r in &runs {
                        println!(
                            "{}  {:<11}  {}  {}  {}",
                            r.run_id,
                            r.status,
                            r.started_at.format("%Y-%m-%d %H:%M:%S"),
                            r.source_system,
                            r.mapping_name
                        );
                    }
                    // Incremental sources: where the next delta reads from.
                    list_marks(&config, org).await.map(|marks| {
                        if !marks.is_empty() {
                            println!("\nincremental sources (the next delta reads from the mark):");
                        }
                        let now = chrono::Utc::now();
                        for (system, source, cursor, mark, run, at) in marks {
                            // The state of the source system's latest run
                            // (a failed delta leaves the mark where it was).
                            let last = runs.iter().find(|r| r.source_system == system && r.status != "dry_run");
                            let state = last.map_or(String::new(), |r| format!("  last run {}", r.status));
                            let lag = mark_time(&mark).map_or(String::new(), |t| {
                                format!("  newest change applied {} ago", age(now.signed_duration_since(t)))
                            });
                            println!(
                                "{system}/{source}  {cursor} at {mark}  stored by {run} {} ago{lag}{state}",
                                age(now.signed_duration_since(at))
                            );
                        }
                    })
                }
                Err(e) => Err(e),
            }
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

/// `3 min`, `5 h`, `2 d`: how long ago a mark was stored.
fn age(d: chrono::TimeDelta) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        7200..=172_799 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    }
}

/// A time cursor's mark as a time (UTC), for the lag: `2026-11-02
/// 09:00:00.000000`, or MongoDB's `{"$date":"2026-11-02T09:00:00Z"}`.
fn mark_time(mark: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let text = mark.strip_prefix("{\"$date\":\"").and_then(|m| m.strip_suffix("\"}"));
    if let Some(iso) = text {
        return chrono::DateTime::parse_from_rfc3339(iso).ok().map(|t| t.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDateTime::parse_from_str(mark, "%Y-%m-%d %H:%M:%S%.f").ok().map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_marks_read_as_times_and_others_do_not() {
        let at = |s: &str| mark_time(s).map(|t| t.to_rfc3339());
        assert_eq!(at("2026-11-02 09:00:00.000000").as_deref(), Some("2026-11-02T09:00:00+00:00"));
        assert_eq!(at("2026-11-02 09:00:00").as_deref(), Some("2026-11-02T09:00:00+00:00"));
        assert_eq!(at(r#"{"$date":"2026-11-02T09:00:00Z"}"#).as_deref(), Some("2026-11-02T09:00:00+00:00"));
        assert_eq!(at("binlog.000001:4567"), None);
        assert_eq!(at("\\x00000000000007d8"), None);
        assert_eq!(at("42"), None);
    }
}
