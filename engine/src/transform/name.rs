//! Personal names: one part of "Last, First" or "First Middle Last", and
//! ALL CAPS made readable on request.

use super::Outcome;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NamePart {
    #[default]
    First,
    Last,
    /// "First Last", whatever order the source wrote.
    Full,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NameSpec {
    pub part: NamePart,
    /// "ADA LOVELACE" → "Ada Lovelace" (only values with no lowercase).
    pub fix_caps: bool,
}

fn title_case(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut start = true;
    for c in value.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.extend(c.to_lowercase());
        }
        start = !c.is_alphanumeric();
    }
    out
}

/// One part of a name. A single word is a first name (its last name NULL).
pub fn name_part(raw: &str, spec: &NameSpec) -> Outcome {
    let mut value = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if spec.fix_caps && value.chars().any(char::is_alphabetic) && !value.chars().any(char::is_lowercase) {
        value = title_case(&value);
    }
    let (first, last) = match value.split_once(',') {
        Some((last, first)) => (first.trim().to_string(), last.trim().to_string()),
        None => match value.rsplit_once(' ') {
            Some((first, last)) => (first.to_string(), last.to_string()),
            None => (value.clone(), String::new()),
        },
    };
    let part = match spec.part {
        NamePart::First => first,
        NamePart::Last => last,
        NamePart::Full => [first, last].into_iter().filter(|p| !p.is_empty()).collect::<Vec<_>>().join(" "),
    };
    if part.is_empty() { Outcome::Null } else { Outcome::Value(part) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_cases() {
        let spec = |part, fix_caps| NameSpec { part, fix_caps };
        let v = |s: &str| Outcome::Value(s.to_string());
        let cases = [
            ("Lovelace, Ada", spec(NamePart::First, false), v("Ada")),
            ("Lovelace, Ada", spec(NamePart::Last, false), v("Lovelace")),
            ("Lovelace,  Ada  King", spec(NamePart::Full, false), v("Ada King Lovelace")),
            ("Grace Brewster Hopper", spec(NamePart::First, false), v("Grace Brewster")),
            ("Grace Brewster Hopper", spec(NamePart::Last, false), v("Hopper")),
            ("Cher", spec(NamePart::First, false), v("Cher")),
            ("Cher", spec(NamePart::Last, false), Outcome::Null),
            ("O'NEIL-SMITH, MARY", spec(NamePart::Full, true), v("Mary O'Neil-Smith")),
            ("McDonald, Ann", spec(NamePart::Last, true), v("McDonald")),
            ("   ", spec(NamePart::First, false), Outcome::Null),
        ];
        for (input, spec, expected) in cases {
            assert_eq!(name_part(input, &spec), expected, "{input:?} {spec:?}");
        }
    }
}
