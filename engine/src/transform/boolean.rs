//! Yes/no in the many ways legacy systems write it.

use super::Outcome;
use crate::reject::RejectReason;

const TRUE: &[&str] = &["y", "yes", "1", "true", "t", "x", "on", "ja", "j", "oui", "si", "sí", "vrai", "wahr"];
const FALSE: &[&str] = &["n", "no", "0", "false", "f", "off", "nein", "non", "faux", "falsch"];

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BooleanSpec {
    /// A checkbox column: an empty value means false (otherwise NULL).
    pub blank_is_false: bool,
}

pub fn parse_boolean(raw: &str, spec: &BooleanSpec) -> Outcome {
    let value = raw.trim().to_lowercase();
    if value.is_empty() {
        return if spec.blank_is_false { Outcome::Value("false".into()) } else { Outcome::Null };
    }
    if TRUE.contains(&value.as_str()) {
        Outcome::Value("true".into())
    } else if FALSE.contains(&value.as_str()) {
        Outcome::Value("false".into())
    } else {
        Outcome::Failed(RejectReason::InvalidBoolean, format!("{raw:?} is neither yes nor no"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boolean_cases() {
        let plain = BooleanSpec::default();
        let checkbox = BooleanSpec { blank_is_false: true };
        let t = || Outcome::Value("true".into());
        let f = || Outcome::Value("false".into());
        let cases = [
            ("Y", &plain, t()),
            ("n", &plain, f()),
            ("Yes", &plain, t()),
            ("NO", &plain, f()),
            ("1", &plain, t()),
            ("0", &plain, f()),
            ("true", &plain, t()),
            ("False", &plain, f()),
            ("x", &checkbox, t()),
            ("", &checkbox, f()),
            ("  ", &plain, Outcome::Null),
            ("ja", &plain, t()),
            ("Nein", &plain, f()),
            ("oui", &plain, t()),
        ];
        for (input, spec, expected) in cases {
            assert_eq!(parse_boolean(input, spec), expected, "{input:?}");
        }
        assert!(matches!(parse_boolean("maybe", &plain), Outcome::Failed(RejectReason::InvalidBoolean, _)));
        assert!(matches!(parse_boolean("2", &plain), Outcome::Failed(RejectReason::InvalidBoolean, _)));
    }
}
