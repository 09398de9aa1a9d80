//! The application layer the `migrate` binary and the worker share, one
//! library so that nothing is wired twice:
//! - running a mapping: `load` (parse and check it), `sources` (its source
//!   blocks into `Source`s, a closed match on `kind`, and its target into
//!   the PostgreSQL sink), `run` (the two handed to the engine), `output`
//!   (the run's output directory);
//! - `init`: a starting mapping guessed from a file's inspection and the
//!   platform schema;
//! - `inspect`: what a source holds, column by column;
//! - `report`: the customer's report rendered as HTML and Markdown, and the
//!   verdict both (and the terminal summary) open with.

mod cutover;
mod init;
mod inspect;
mod load;
mod output;
mod report;
mod run;
mod sources;

pub use cutover::{cutover_verdict, reconcile_mapping, render_cutover_html, write_cutover};
pub use init::{Proposal, SampleCheck, check_proposal, match_columns, propose};
pub use inspect::{
    ColumnProfile, DocumentPath, FileKind, InspectError, Inspection, inspect, inspect_as, inspect_collection,
};
pub use load::{LoadError, load_mapping};
pub use output::{OutputDir, Progress, write_report};
pub use report::{how_to_fix, render_html, render_markdown, thousands, verdict};
pub use run::{RunRequest, check_mapping, check_mapping_within, run_mapping};
pub use sources::{Ceilings, SourceSet, check_sources};
