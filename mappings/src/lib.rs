//! The mapping language and the platform's target schema.
//!
//! A mapping file (TOML) says where each target column of each entity comes
//! from and what happens to it on the way. [`parse`] turns its text into a
//! [`Mapping`] that carries an engine [`RunPlan`](migrate_engine::RunPlan),
//! or into every [`Diagnostic`] at once, each pointing at file:line:col.
//! Parsing is pure: no file, network or credential is touched (environment
//! variables come in through a lookup function).
//!
//! The target schema is here twice, on purpose and checked against each
//! other by a test: as SQL migrations ([`MIGRATIONS`]) and as the model the
//! checker uses ([`schema::PLATFORM`]).

mod diagnostic;
mod interpolate;
mod migrations;
mod parse;
pub mod schema;
mod secrets;
mod suggest;

pub use diagnostic::{Diagnostic, Diagnostics, Severity};
pub use interpolate::interpolate;
pub use migrations::{MIGRATIONS, Migration};
pub use parse::{Mapping, SourceBlock, SourceColumnRef, parse, parse_lenient};
pub use secrets::{env_or_file, process_env_or_file};
pub use suggest::did_you_mean;
