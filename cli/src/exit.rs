//! Exit codes: part of the stable contract.

/// The run published (rejected rows do not fail a run).
pub const OK: u8 = 0;
/// The run failed; nothing was published.
pub const FAILED: u8 = 1;
/// Bad usage, mapping or configuration.
pub const USAGE: u8 = 2;
/// More rows rejected than the mapping's max_rejected; nothing published.
pub const REJECT_BUDGET: u8 = 3;
/// Cancelled by Ctrl-C; nothing published.
pub const CANCELLED: u8 = 130;
