//! Exit codes: part of the stable contract.

/// The run published (rejected rows do not fail a run).
pub const OK: u8 = 0;
/// The run failed; nothing was published.
pub const FAILED: u8 = 1;
/// Bad usage, mapping or configuration.
pub const USAGE: u8 = 2;
/// More rows rejected than the mapping's max_rejected; nothing published.
pub const REJECT_BUDGET: u8 = 3;
/// `migrate cutover`: the reconciliation found differences between the
/// source and the platform (listed in the cutover report).
pub const DIFFERENCES: u8 = 4;
/// Cancelled by Ctrl-C; nothing published.
pub const CANCELLED: u8 = 130;
/// Output went into a closed pipe (`migrate … | head`): the reader has what
/// it wanted. 128 + SIGPIPE, what a shell reports for a Unix tool the
/// signal ended; nothing is printed.
pub const BROKEN_PIPE: u8 = 141;

/// True for the panic std raises when `print!` meets a closed pipe, and
/// for a write error that is one.
pub fn is_broken_pipe(message: &str) -> bool {
    message.contains("Broken pipe") || message.contains("BrokenPipe")
}
