use crate::counts::EntityCounts;
use crate::reject::RejectedRow;
use crate::sink::DuplicateRow;

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
    fn progress(&mut self, _entity: &str, _counts: &EntityCounts) {}
}

/// Ignores everything.
pub struct NoEvents;

impl RunEvents for NoEvents {}
