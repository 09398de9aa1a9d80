//! Legacy codes → the platform's values, through a table in the mapping.

use super::Outcome;
use crate::reject::RejectReason;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ValueMap {
    /// (legacy value, platform value), in the mapping's order.
    pub values: Vec<(String, String)>,
    /// For values not in the table; without it they are rejected.
    pub default: Option<String>,
    pub case_insensitive: bool,
}

/// Counted when an unknown value took the default.
pub const NOTE_DEFAULTED: &str = "unmapped_value_defaulted";

impl ValueMap {
    pub fn lookup(&self, raw: &str) -> Outcome {
        let value = raw.trim();
        let found = self.values.iter().find(|(from, _)| {
            if self.case_insensitive { from.to_lowercase() == value.to_lowercase() } else { from == value }
        });
        match (found, &self.default) {
            (Some((_, to)), _) => Outcome::Value(to.clone()),
            (None, Some(d)) => Outcome::ValueNoted(d.clone(), NOTE_DEFAULTED),
            (None, None) => {
                let known: Vec<&str> = self.values.iter().map(|(f, _)| f.as_str()).collect();
                Outcome::Failed(
                    RejectReason::UnmappedValue,
                    format!("{value:?} is not in the map ({})", known.join(", ")),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_cases() {
        let map = ValueMap {
            values: vec![("A".into(), "active".into()), ("I".into(), "inactive".into())],
            default: None,
            case_insensitive: false,
        };
        assert_eq!(map.lookup("A"), Outcome::Value("active".into()));
        assert_eq!(map.lookup(" I "), Outcome::Value("inactive".into()));
        assert_eq!(
            map.lookup("a"),
            Outcome::Failed(RejectReason::UnmappedValue, "\"a\" is not in the map (A, I)".into())
        );
        let lenient = ValueMap { case_insensitive: true, default: Some("archived".into()), ..map };
        assert_eq!(lenient.lookup("a"), Outcome::Value("active".into()));
        assert_eq!(lenient.lookup("Z"), Outcome::ValueNoted("archived".into(), NOTE_DEFAULTED));
    }
}
