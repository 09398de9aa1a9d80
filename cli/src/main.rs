//! `migrate`: the onboarding engineer's command line. Parses arguments,
//! calls the libraries, maps the outcome to an exit code (see `exit`).

mod exit;
mod init;
mod inspect;
mod preview;
mod report;
mod run;
mod runs;
mod schema;
mod summary;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "migrate",
    version,
    about = "Moves legacy data into the platform's tenant-scoped PostgreSQL, with a report that accounts for every row."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Platform tables, RLS, roles and the migration ledger.
    Schema {
        #[command(subcommand)]
        action: SchemaAction,
    },
    /// Check a mapping without loading anything; exit 0 or 2.
    Validate { mapping: PathBuf },
    /// Load what a mapping describes and write the report.
    Run {
        mapping: PathBuf,
        /// Output directory [default: migrate-out/RUN_ID].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Stage and count everything, then roll back.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print a starting mapping for a file: its dialect, and each target
    /// column matched to the most likely source column.
    #[command(
        after_help = "Example:\n  migrate init exports/customers.csv --entity contacts --out exports/mapping.toml\n  migrate validate exports/mapping.toml"
    )]
    Init {
        source: PathBuf,
        /// The platform entity the file holds.
        #[arg(long, default_value = "contacts")]
        entity: String,
        /// Write the mapping here (source paths relative to it) instead of
        /// printing it.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The first rows of each entity as a run would map them, and the rows
    /// it would reject; nothing is written.
    #[command(after_help = "Example:\n  migrate preview mapping.toml --rows 20")]
    Preview {
        mapping: PathBuf,
        /// Source rows to map per entity.
        #[arg(long, default_value_t = 10)]
        rows: usize,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Encoding, dialect, header and column types of a file, from a sample.
    Inspect {
        file: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Re-render a run's report, or check it against the database again.
    Report {
        /// The run's report.json.
        report: PathBuf,
        /// Write the HTML page here.
        #[arg(long)]
        html: Option<PathBuf>,
        /// Print the report: `md` (a summary for tickets and e-mails) or
        /// `text` (the terminal summary).
        #[arg(long, value_parser = ["md", "text"])]
        format: Option<String>,
        /// Measure the target again and compare it with the fingerprints
        /// the run recorded; exit 1 if a column differs.
        #[arg(long)]
        verify: bool,
    },
    /// The migration ledger of an org.
    Runs {
        #[command(subcommand)]
        action: Option<RunsAction>,
        /// The org (default: $ORG_ID).
        #[arg(long, global = true)]
        org: Option<String>,
    },
}

#[derive(Subcommand)]
enum SchemaAction {
    /// Apply missing migrations (idempotent; safe to run concurrently).
    Apply,
}

#[derive(Subcommand)]
enum RunsAction {
    /// Recent runs, newest first.
    List {
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// One run, with its stored report.
    Show { run_id: String },
    /// Drop the staging tables of runs that are no longer alive.
    Clean,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::FAILED.into();
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Command::Schema { action: SchemaAction::Apply } => schema::apply().await,
            Command::Validate { mapping } => validate::validate(&mapping).await,
            Command::Run { mapping, out, dry_run } => run::run(&mapping, out, dry_run).await,
            Command::Inspect { file, json } => inspect::run(&file, json).await,
            Command::Preview { mapping, rows, json } => preview::run(&mapping, rows, json).await,
            Command::Init { source, entity, out } => init::run(&source, &entity, out.as_deref()).await,
            Command::Report { report, html, format, verify } => {
                report::report(&report, html, format.as_deref(), verify).await
            }
            Command::Runs { action, org } => runs::runs(action.unwrap_or(RunsAction::List { limit: 20 }), org).await,
        }
    });
    code.into()
}

/// The process environment, for `${VAR}` and connection settings.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}
