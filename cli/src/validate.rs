use std::io::IsTerminal;
use std::path::Path;

use migrate_app::{LoadError, SourceSet, check_mapping, load_mapping};
use migrate_mappings::{Diagnostics, Mapping};

use crate::{env, exit};

/// Prints diagnostics the way a compiler does.
pub fn print_diagnostics(d: &Diagnostics) {
    eprint!("{}", d.render(std::io::stderr().is_terminal()));
}

/// Loads and fully checks a mapping, sources included; prints what is wrong.
pub async fn checked_mapping(path: &Path) -> Result<(Mapping, SourceSet), u8> {
    let mapping = match load_mapping(path, &env) {
        Ok(m) => m,
        Err(LoadError::Invalid(d)) => {
            print_diagnostics(&d);
            return Err(exit::USAGE);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return Err(exit::USAGE);
        }
    };
    let (sources, diagnostics) = check_mapping(&mapping).await;
    if !diagnostics.items.is_empty() {
        print_diagnostics(&diagnostics);
    }
    match sources {
        Some(s) => Ok((mapping, s)),
        None => Err(exit::USAGE),
    }
}

pub async fn validate(path: &Path) -> u8 {
    let (mapping, sources) = match checked_mapping(path).await {
        Ok(m) => m,
        Err(code) => return code,
    };
    // Settings left to the data (`auto`) are settled now, as a run would.
    let mut plan = mapping.plan.clone();
    let open = |name: &str| sources.open(name);
    let prepared = match migrate_engine::load_rates(&mut plan, &open).await {
        Ok(()) => migrate_engine::infer(&mut plan, &open).await,
        Err(e) => Err(e),
    };
    match prepared {
        Ok(decisions) => {
            for d in decisions {
                println!("{}.{}: {} = {} ({})", d.entity, d.column, d.setting, d.decision, d.evidence);
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    }
    when_warnings(&plan, &sources).await;
    let entities: Vec<&str> = mapping.plan.entities.iter().map(|e| e.entity.as_str()).collect();
    println!("{}: ok ({})", mapping.path, entities.join(", "));
    exit::OK
}

/// A `when` branch that none of the source's first rows takes is a warning
/// (a condition that can never hold, such as a value spelled otherwise).
async fn when_warnings(plan: &migrate_engine::RunPlan, sources: &migrate_app::SourceSet) {
    for entity in &plan.entities {
        if !entity.columns.iter().any(|c| matches!(c.input, migrate_engine::ColumnInput::When { .. })) {
            continue;
        }
        let Ok(mut source) = sources.open_prepared(&entity.source).await else { continue };
        let Ok(Some(batch)) = source.next_batch().await else { continue };
        let Ok(branches) = migrate_engine::when_branches(entity, &batch) else { continue };
        let rows = batch.height();
        for (column, then, otherwise) in branches {
            let never = match (then, otherwise) {
                (0, _) => "`then`",
                (_, 0) => "the other branch (`else`)",
                _ => continue,
            };
            eprintln!(
                "warning: {}.{column}: none of the first {rows} rows of source {} takes {never} of its `when`",
                entity.entity, entity.source
            );
        }
    }
}
