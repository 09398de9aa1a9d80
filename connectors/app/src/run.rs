//! One run of a checked mapping into PostgreSQL, as the `migrate` binary
//! and the worker both do it.

use std::sync::atomic::AtomicBool;

use migrate_engine::{EngineError, MappingInfo, RunOptions, RunReport};
use migrate_mappings::{Diagnostics, Mapping};
use migrate_postgres::{ConnectionConfig, PgSink};

use crate::{OutputDir, SourceSet, check_sources};

/// Configures and checks every source of a loaded mapping (opening the
/// files to compare their columns). Returns the sources when nothing is an
/// error, and every problem found: errors in file order, then warnings.
pub async fn check_mapping(mapping: &Mapping) -> (Option<SourceSet>, Diagnostics) {
    check_mapping_within(mapping, None).await
}

/// [`check_mapping`], the sources' limits first held to `ceilings` (see
/// [`SourceSet::hold_to`]; what it refuses, the caller refused before).
pub async fn check_mapping_within(
    mapping: &Mapping,
    ceilings: Option<&crate::Ceilings>,
) -> (Option<SourceSet>, Diagnostics) {
    let mut problems = mapping.errors.clone();
    let sources = match SourceSet::configure(mapping) {
        Ok(mut s) => {
            if let Some(c) = ceilings {
                s.hold_to(mapping, c);
            }
            problems.extend(check_sources(mapping, &s).await);
            Some(s)
        }
        Err(d) => {
            problems.extend(d.items);
            None
        }
    };
    problems.sort_by_key(|d| d.span.start);
    problems.extend(mapping.warnings.iter().cloned());
    let diagnostics = mapping.diagnostics(problems);
    let sources = sources.filter(|_| !diagnostics.has_errors());
    (sources, diagnostics)
}

/// What a run needs besides the mapping.
pub struct RunRequest<'a> {
    pub run_id: uuid::Uuid,
    pub dry_run: bool,
    pub cancel: &'a AtomicBool,
}

/// Runs a checked mapping: sources → engine → PostgreSQL, rejects and
/// duplicates into `output`. The report is returned in every case, with
/// the error that ended the run if one did. The caller writes it.
pub async fn run_mapping(
    mapping: &Mapping,
    sources: &SourceSet,
    db: ConnectionConfig,
    request: RunRequest<'_>,
    output: &mut OutputDir,
) -> (RunReport, Option<EngineError>) {
    let mut sink = PgSink::new(db);
    let options = RunOptions {
        run_id: request.run_id,
        mapping: MappingInfo {
            name: mapping.plan.name.clone(),
            path: mapping.path.clone(),
            sha256: mapping.sha256.clone(),
        },
        mode: migrate_engine::RunMode::Whole,
        dry_run: request.dry_run,
        cancel: request.cancel,
    };
    let open = |name: &str| sources.open(name);
    match migrate_engine::run(&mapping.plan, options, &open, &mut sink, output).await {
        Ok(report) => (report, None),
        Err((report, e)) => (report, Some(e)),
    }
}
