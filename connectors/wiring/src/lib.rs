//! The wiring the `migrate` binary and the worker share: load a mapping,
//! turn its source blocks into `Source`s (a closed match on `kind`), its
//! target into the PostgreSQL sink, and write a run's output directory.

mod execute;
mod init;
mod inspect;
mod load;
mod output;
mod render;
mod sources;

pub use execute::{RunRequest, check_mapping, run_mapping};
pub use init::{Proposal, match_columns, propose};
pub use inspect::{ColumnProfile, DocumentPath, InspectError, Inspection, inspect, inspect_collection};
pub use load::{LoadError, load_mapping};
pub use output::{OutputDir, Progress, write_report};
pub use render::{how_to_fix, render_html, render_markdown, thousands, verdict};
pub use sources::{Ceilings, SourceSet, check_sources};
