//! Delta runs: a database source read from the mark the previous run
//! stored, to the cursor's greatest value when the read began.
//!
//! The mark lives in the sink's ledger and moves only when a run publishes
//! (in the publishing transaction), so a failed, cancelled or killed run
//! reads the same window again. A cursor cannot see a row that was deleted:
//! a delta finds deletes by a scan of the source's keys, or by a
//! soft-delete column, or not at all, as the source block says.

use serde::{Deserialize, Serialize};

/// `incremental = { cursor = "updated_at", … }` of a database source.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncrementalConfig {
    /// A column that grows whenever a row is inserted or changed: a
    /// timestamp set on every write, a `rowversion`, an ever-growing id.
    pub cursor: String,
    /// How far before the mark the next delta reads again, for clocks that
    /// differ and transactions that commit late: a duration (`"30s"`,
    /// `"10m"`, `"2h"`, `"1d"`) for a time cursor, a number for a numeric
    /// one. Rows read twice change nothing (the key map).
    #[serde(default)]
    pub overlap: Option<Overlap>,
    /// Where a delta learns of deleted rows.
    #[serde(default)]
    pub deletes: Deletes,
    /// With `deletes = "key_scan"`: scan the keys on every Nth delta only.
    #[serde(default = "every_delta")]
    pub key_scan_every: u32,
    /// With `deletes = "soft_delete"`: the column that marks a row deleted
    /// (deleted when it holds anything but empty, `0`, `false`, `f`, `n`,
    /// `no`: a flag or a `deleted_at` timestamp).
    #[serde(default)]
    pub deleted_flag: Option<String>,
}

fn every_delta() -> u32 {
    1
}

/// The values of a soft-delete column that mean "not deleted".
pub const NOT_DELETED: [&str; 12] = ["", "0", "false", "False", "FALSE", "f", "F", "n", "N", "no", "No", "NO"];

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Overlap {
    /// In the cursor's own units (a numeric cursor).
    Units(u64),
    /// `"30s"`, `"10m"`, `"2h"`, `"1d"` (a time cursor).
    Duration(String),
}

impl Overlap {
    /// Seconds of a duration; `None` for a number of units.
    pub fn seconds(&self) -> Result<Option<u64>, String> {
        let Overlap::Duration(text) = self else { return Ok(None) };
        let text = text.trim();
        let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let n: u64 = number.parse().map_err(|_| format!("overlap = {text:?}: expected a number and s, m, h or d"))?;
        let scale = match unit.trim() {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(format!("overlap = {text:?}: expected a number and s, m, h or d (\"10m\")")),
        };
        Ok(Some(n * scale))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Deletes {
    /// Read every key of the source (`SELECT key FROM …`): a key the key
    /// map has and the scan does not is missing, and `on_missing` acts.
    #[default]
    KeyScan,
    /// Rows whose `deleted_flag` is set are missing; they are not loaded.
    SoftDelete,
    /// Deletes are not looked for between full loads.
    None,
}

impl IncrementalConfig {
    /// What the mapping asks for, checked before connecting.
    pub fn check(&self) -> Result<(), String> {
        if self.cursor.trim().is_empty() {
            return Err("incremental.cursor: name the column that grows on every insert and update".into());
        }
        if let Some(o) = &self.overlap {
            o.seconds()?;
        }
        if self.key_scan_every == 0 {
            return Err("incremental.key_scan_every must be at least 1".into());
        }
        match (self.deletes, &self.deleted_flag) {
            (Deletes::SoftDelete, None) => {
                Err("incremental: deletes = \"soft_delete\" needs deleted_flag = \"COLUMN\"".into())
            }
            (Deletes::KeyScan | Deletes::None, Some(_)) => {
                Err("incremental: deleted_flag is read only with deletes = \"soft_delete\"".into())
            }
            _ => Ok(()),
        }
    }
}

/// How a run looked for rows deleted in the source (the report's
/// `window.deletes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeleteCheck {
    /// A full load: every key was read, and the key map's others are gone.
    FullRead,
    KeyScan,
    SoftDelete,
    /// A delta that looked for none.
    NotChecked,
}

impl DeleteCheck {
    /// As the report writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FullRead => "full_read",
            Self::KeyScan => "key_scan",
            Self::SoftDelete => "soft_delete",
            Self::NotChecked => "not_checked",
        }
    }
}

/// A mark a published run stored for a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// The cursor column it is a value of.
    pub cursor: String,
    pub value: String,
    /// Deltas published since the last full read or key scan.
    pub deltas_since_scan: u32,
}

/// What one read of an incremental source covered, for the sink (which
/// stores `mark` when the run publishes) and the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub cursor: String,
    /// The mark the previous published run stored; absent for a full load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_mark: Option<String>,
    /// Rows were read whose cursor is at least this (the previous mark less
    /// the overlap); absent for a full load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_from: Option<String>,
    /// The cursor's greatest value when the read began: the next delta
    /// reads from here. Absent when the source had no rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mark: Option<String>,
    /// How this run looked for deleted rows.
    pub deletes: DeleteCheck,
    /// Keys the key scan read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys_scanned: Option<u64>,
    /// Deltas published since the last full read or key scan, this one
    /// included.
    pub deltas_since_scan: u32,
    /// A read of a change log (the binlog): whether it read to the end
    /// (`false`: it stopped at its batch's cap, more is waiting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caught_up: Option<bool>,
    /// A binlog mark as a MariaDB GTID position (`BINLOG_GTID_POS()`), for
    /// tools that follow by GTID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mark_gtid: Option<String>,
}

impl Window {
    /// A read of `cursor` from the stored mark `previous` (a full load
    /// without one) to `mark`, the cursor's greatest value now; where it
    /// starts and how it finds deletes are filled in later.
    pub fn new(cursor: &str, previous: Option<&Mark>, mark: Option<String>) -> Self {
        Self {
            cursor: cursor.to_string(),
            previous_mark: previous.map(|m| m.value.clone()),
            read_from: None,
            mark,
            deletes: DeleteCheck::FullRead,
            keys_scanned: None,
            deltas_since_scan: 0,
            caught_up: None,
            mark_gtid: None,
        }
    }

    /// A delta: the previous run left a mark.
    pub fn is_delta(&self) -> bool {
        self.previous_mark.is_some()
    }

    /// How this run finds deletes, by the source's setting and the deltas
    /// since the last scan; fills `deletes` and `deltas_since_scan`.
    pub fn settle_deletes(&mut self, config: &IncrementalConfig, previous: Option<&Mark>) {
        let since = previous.map_or(0, |m| m.deltas_since_scan);
        let (how, since) = match (self.is_delta(), config.deletes) {
            (false, _) => (DeleteCheck::FullRead, 0),
            (true, Deletes::KeyScan) if since + 1 >= config.key_scan_every => (DeleteCheck::KeyScan, 0),
            (true, Deletes::KeyScan | Deletes::None) => (DeleteCheck::NotChecked, since + 1),
            (true, Deletes::SoftDelete) => (DeleteCheck::SoftDelete, since + 1),
        };
        self.deletes = how;
        self.deltas_since_scan = since;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(deletes: Deletes, every: u32) -> IncrementalConfig {
        IncrementalConfig {
            cursor: "updated_at".into(),
            overlap: None,
            deletes,
            key_scan_every: every,
            deleted_flag: (deletes == Deletes::SoftDelete).then(|| "is_deleted".into()),
        }
    }

    #[test]
    fn overlaps_read_as_seconds_or_units() {
        assert_eq!(Overlap::Duration("10m".into()).seconds(), Ok(Some(600)));
        assert_eq!(Overlap::Duration(" 2h".into()).seconds(), Ok(Some(7200)));
        assert_eq!(Overlap::Duration("1d".into()).seconds(), Ok(Some(86_400)));
        assert_eq!(Overlap::Units(50).seconds(), Ok(None));
        assert!(Overlap::Duration("10 minutes".into()).seconds().unwrap_err().contains("s, m, h or d"));
        assert!(Overlap::Duration("m".into()).seconds().is_err());
    }

    #[test]
    fn settings_that_contradict_each_other_are_refused() {
        assert_eq!(config(Deletes::KeyScan, 1).check(), Ok(()));
        assert!(config(Deletes::KeyScan, 0).check().unwrap_err().contains("at least 1"));
        let mut soft = config(Deletes::SoftDelete, 1);
        assert_eq!(soft.check(), Ok(()));
        soft.deleted_flag = None;
        assert!(soft.check().unwrap_err().contains("needs deleted_flag"));
        let mut scan = config(Deletes::KeyScan, 1);
        scan.deleted_flag = Some("x".into());
        assert!(scan.check().unwrap_err().contains("only with"));
    }

    #[test]
    fn a_key_scan_every_third_delta() {
        let c = config(Deletes::KeyScan, 3);
        let mut since = 0;
        let mut seen = Vec::new();
        for _ in 0..6 {
            let previous = Mark { cursor: "updated_at".into(), value: "1".into(), deltas_since_scan: since };
            let mut w = Window {
                cursor: "updated_at".into(),
                previous_mark: Some("1".into()),
                read_from: None,
                mark: None,
                deletes: DeleteCheck::FullRead,
                keys_scanned: None,
                deltas_since_scan: 0,
                caught_up: None,
                mark_gtid: None,
            };
            w.settle_deletes(&c, Some(&previous));
            since = w.deltas_since_scan;
            seen.push(w.deletes);
        }
        use DeleteCheck::{KeyScan, NotChecked};
        assert_eq!(seen, [NotChecked, NotChecked, KeyScan, NotChecked, NotChecked, KeyScan]);
        let mut full = Window {
            cursor: "c".into(),
            previous_mark: None,
            read_from: None,
            mark: None,
            deletes: DeleteCheck::FullRead,
            keys_scanned: None,
            deltas_since_scan: 9,
            caught_up: None,
            mark_gtid: None,
        };
        full.settle_deletes(&config(Deletes::None, 1), None);
        assert_eq!((full.deletes, full.deltas_since_scan), (DeleteCheck::FullRead, 0));
    }
}
