//! `migrate-worker`: S3 uploads become migration jobs. S3 event
//! notifications arrive on an SQS queue; each uploaded object version is
//! one job in the `migrate.jobs` ledger, claimed under a lease; the job runs
//! the same wiring as `migrate run` and puts its report back in S3.

pub mod config;
pub mod event;
mod files;
pub mod http;
pub mod layout;
pub mod ledger;
pub mod metrics;
mod partition;
pub mod redact;
pub mod service;
pub mod usage;
pub mod webhook;
