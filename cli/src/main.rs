//! `migrate`: the onboarding engineer's command line. Parses arguments,
//! calls the libraries, maps the outcome to an exit code (see `exit`).

mod cutover;
mod exit;
mod init;
mod inspect;
mod preview;
mod progress;
mod report;
mod rollback;
mod run;
mod runs;
mod schema;
mod summary;
mod sync;
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
    /// Print each stage's start and its row counts on stderr, instead of
    /// the progress bars. RUST_LOG=debug adds the SQL statements the
    /// publish runs (without their values, which are bound or COPYed).
    #[arg(long, short, global = true)]
    verbose: bool,
}

/// `RUST_LOG` when set (an env-filter: `debug`, `migrate_postgres=debug`),
/// else with `--verbose` migrate's own steps at info; else nothing.
fn init_logging(verbose: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => EnvFilter::new(v),
        _ if verbose => EnvFilter::new("migrate=info,migrate_engine=info,migrate_postgres=info,migrate_app=info"),
        _ => return,
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .with_timer(tracing_subscriber::fmt::time::uptime())
        .init();
}

#[derive(Subcommand)]
enum Command {
    /// Platform tables, RLS, roles and the migration ledger.
    #[command(after_help = "Example:\n  DATABASE_URL=postgres://admin@db/platform migrate schema apply")]
    Schema {
        #[command(subcommand)]
        action: SchemaAction,
    },
    /// Check a mapping without loading anything; exit 0 or 2.
    #[command(after_help = "Example:\n  ORG_ID=7a1c0b52-3c1e-4d8e-9f5a-2b6d8e4f1a90 migrate validate mapping.toml")]
    Validate { mapping: PathBuf },
    /// Load what a mapping describes and write the report.
    #[command(
        after_help = "Examples:\n  migrate run mapping.toml\n  migrate run mapping.toml --dry-run --out /tmp/try\n  migrate run mapping.toml --max-rejects 2%\n\nExit codes: 0 published, 1 failed (nothing published), 2 bad usage or mapping,\n3 reject budget exceeded (nothing published), 130 cancelled (nothing published)."
    )]
    Run {
        mapping: PathBuf,
        /// Output directory [default: migrate-out/RUN_ID].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Stage and count everything, then roll back; the report is
        /// still written.
        #[arg(long)]
        dry_run: bool,
        /// No progress display.
        #[arg(long, short)]
        quiet: bool,
        /// Publish nothing (exit 3) past this many rejected rows, or this
        /// share of the rows read: `100` or `2.5%`. Overrides the mapping's
        /// max_rejected.
        #[arg(long, value_parser = parse_budget)]
        max_rejects: Option<migrate_engine::RejectBudget>,
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
    #[command(
        after_help = "Examples:\n  migrate inspect exports/Kunden.csv\n  migrate inspect exports/customers.xlsx --json\n  migrate inspect exports/customers.json\n  migrate inspect 'mongodb://reader:***@crm-db:27017/crm' --collection customers"
    )]
    Inspect {
        /// A file, or with `--collection` a MongoDB URL.
        file: PathBuf,
        /// Inspect this collection of the MongoDB server at the URL given
        /// in place of the file.
        #[arg(long, value_name = "NAME")]
        collection: Option<String>,
        /// Read the file as this kind (csv, excel, xml, mongodb) instead of
        /// what its content looks like.
        #[arg(long, value_name = "KIND")]
        kind: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Re-render a run's report, or check it against the database again.
    #[command(
        after_help = "Examples:\n  migrate report migrate-out/RUN_ID/report.json --format md\n  migrate report migrate-out/RUN_ID/report.json --verify --html verified.html"
    )]
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
    /// Undo a published run: delete the rows it inserted, restore the rows
    /// it updated, in one transaction.
    #[command(
        after_help = "Example:\n  migrate rollback 18215ad9-3c1e-4d8e-9f5a-2b6d8e4f1a90 --org 7a1c0b52-3c1e-4d8e-9f5a-2b6d8e4f1a90\n\nRefused when a later run changed the same rows, or when rows were edited in the platform\nsince the run (unless --force)."
    )]
    Rollback {
        run_id: String,
        /// The org (default: $ORG_ID).
        #[arg(long)]
        org: Option<String>,
        /// Roll back even rows edited in the platform since the run.
        #[arg(long)]
        force: bool,
        /// Also roll back the later runs that built on this one (newest
        /// first, in the same transaction).
        #[arg(long)]
        chain: bool,
    },
    /// The switch: a last delta, then every source read whole and compared
    /// with the platform, key by key and column by column; writes
    /// cutover.json and cutover.html for the customer to sign off. Exit 0
    /// when they agree, 4 when differences were found.
    #[command(after_help = "Example:\n  migrate cutover mapping.toml --out cutover/")]
    Cutover {
        mapping: PathBuf,
        /// Output directory [default: migrate-out/cutover-ID]; the last
        /// delta's report goes to its final-delta/.
        #[arg(long)]
        out: Option<PathBuf>,
        /// No progress display.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Deltas of a mapping's incremental sources, one run after another,
    /// until they are caught up; with --follow, until stopped (SIGTERM or
    /// Ctrl-C publish the batch in hand, save its position and exit 0).
    #[command(after_help = "Example:\n  migrate sync mapping.toml --follow --interval 5")]
    Sync {
        mapping: PathBuf,
        /// Keep reading after catching up, every --interval seconds.
        #[arg(long)]
        follow: bool,
        /// Stop once the sources are caught up (the default without
        /// --follow).
        #[arg(long, conflicts_with = "follow")]
        until_caught_up: bool,
        /// Seconds between reads once caught up, with --follow.
        #[arg(long, default_value_t = 5)]
        interval: u64,
        /// Each run's report goes to DIR/NNNNN/ [default: migrate-out/sync-ID].
        #[arg(long)]
        out: Option<PathBuf>,
        /// No progress display.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Shell completions, printed: `migrate completions bash > /etc/bash_completion.d/migrate`.
    Completions { shell: Shell },
    /// The manual page (roff), printed: `migrate man > /usr/local/share/man/man1/migrate.1`.
    Man,
    /// The migration ledger of an org.
    #[command(
        after_help = "Examples:\n  migrate runs list --org 7a1c0b52-3c1e-4d8e-9f5a-2b6d8e4f1a90\n  migrate runs show RUN_ID --org 7a1c0b52-3c1e-4d8e-9f5a-2b6d8e4f1a90\n  migrate runs clean"
    )]
    Runs {
        #[command(subcommand)]
        action: Option<RunsAction>,
        /// The org (default: $ORG_ID).
        #[arg(long, global = true)]
        org: Option<String>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Shell {
    Bash,
    Zsh,
    Fish,
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
    // Every TLS connection uses ring. tiberius's TLS compiles aws-lc beside
    // it, and with two providers rustls picks none by itself.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // A bug is reported as one, without a Rust backtrace in the user's face.
    std::panic::set_hook(Box::new(|info| {
        // Printing into a closed pipe is the reader's choice, not a bug:
        // end quietly, as Unix tools do.
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if exit::is_broken_pipe(message) {
            std::process::exit(exit::BROKEN_PIPE.into());
        }
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        eprintln!(
            "internal error{at}: {info}\nthis is a bug in migrate; nothing was published by the step that failed"
        );
    }));
    let cli = Cli::parse();
    init_logging(cli.verbose);
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
            Command::Run { mapping, out, dry_run, quiet, max_rejects } => {
                // The log lines take the progress bars' place.
                let quiet = quiet || cli.verbose;
                run::run(&mapping, run::RunArgs { out, dry_run, quiet, max_rejects }).await
            }
            Command::Inspect { file, collection, kind, json } => {
                inspect::run(&file, collection.as_deref(), kind.as_deref(), json).await
            }
            Command::Preview { mapping, rows, json } => preview::run(&mapping, rows, json).await,
            Command::Init { source, entity, out } => init::run(&source, &entity, out.as_deref()).await,
            Command::Report { report, html, format, verify } => {
                report::report(&report, html, format.as_deref(), verify).await
            }
            Command::Rollback { run_id, org, force, chain } => rollback::rollback(&run_id, org, force, chain).await,
            Command::Sync { mapping, follow, until_caught_up: _, interval, out, quiet } => {
                sync::sync(&mapping, sync::SyncArgs { out, follow, interval, quiet: quiet || cli.verbose }).await
            }
            Command::Cutover { mapping, out, quiet } => cutover::cutover(&mapping, out, quiet || cli.verbose).await,
            Command::Completions { shell } => {
                let mut cmd = <Cli as clap::CommandFactory>::command();
                let shell = match shell {
                    Shell::Bash => clap_complete::Shell::Bash,
                    Shell::Zsh => clap_complete::Shell::Zsh,
                    Shell::Fish => clap_complete::Shell::Fish,
                };
                clap_complete::generate(shell, &mut cmd, "migrate", &mut std::io::stdout());
                exit::OK
            }
            Command::Man => {
                let man = clap_mangen::Man::new(<Cli as clap::CommandFactory>::command());
                match man.render(&mut std::io::stdout()) {
                    Ok(()) => exit::OK,
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => exit::BROKEN_PIPE,
                    Err(e) => {
                        eprintln!("error: {e}");
                        exit::FAILED
                    }
                }
            }
            Command::Runs { action, org } => runs::runs(action.unwrap_or(RunsAction::List { limit: 20 }), org).await,
        }
    });
    code.into()
}

/// The process environment, for `${VAR}` and connection settings. A
/// variable can also come from the file its `_FILE` twin names
/// (`DB_PASSWORD_FILE`); a twin that cannot be read stops the command with
/// exit 2 and the variable's and file's names.
fn env(name: &str) -> Option<String> {
    migrate_mappings::process_env_or_file(name, &mut |e| {
        eprintln!("error: {e}");
        std::process::exit(i32::from(exit::USAGE));
    })
}

fn parse_budget(text: &str) -> Result<migrate_engine::RejectBudget, String> {
    migrate_engine::RejectBudget::parse(text)
        .ok_or_else(|| format!("{text:?} is not a row count (100) or a percentage (2.5%)"))
}
