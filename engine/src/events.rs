use crate::counts::EntityCounts;
use crate::reject::RejectedRow;
use crate::sink::{DuplicateRow, MissingRow, SimilarPair};

/// What the run loop tells the outside world as it goes: reject and
/// duplicate files are written from here, progress is shown from here.
/// An error from a callback (a full disk) fails the run.
pub trait RunEvents: Send {
    fn entity_started(&mut self, _entity: &str, _source_columns: &[String]) -> std::io::Result<()> {
        Ok(())
    }
    fn rejected(&mut self, _row: &RejectedRow) -> std::io::Result<()> {
        Ok(())
    }
    fn duplicate(&mut self, _row: &DuplicateRow) -> std::io::Result<()> {
        Ok(())
    }
    /// A row an earlier run loaded that the source no longer has.
    fn missing(&mut self, _row: &MissingRow) -> std::io::Result<()> {
        Ok(())
    }
    /// Two rows that look alike (flagged only).
    fn similar(&mut self, _pair: &SimilarPair) -> std::io::Result<()> {
        Ok(())
    }
    /// After each batch: the entity's counts so far, and the source's
    /// position (see `Source::position`) when it knows it.
    fn progress(&mut self, _entity: &str, _counts: &EntityCounts, _position: Option<(u64, u64)>) {}
    /// Every row is staged; the publish begins.
    fn publishing(&mut self) {}
}

/// Ignores everything.
pub struct NoEvents;

impl RunEvents for NoEvents {}
