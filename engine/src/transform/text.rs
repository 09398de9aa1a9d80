//! Text clean-up. Each function takes one non-null value; `None` means the
//! result is NULL.

/// Strips leading and trailing whitespace, Unicode included (NBSP from
/// spreadsheets, ideographic space), and byte order marks (U+FEFF: a
/// UTF-16 document pasted into a field keeps its own).
pub fn trim(value: &str) -> Option<String> {
    Some(value.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}').to_string())
}

pub fn lowercase(value: &str) -> Option<String> {
    Some(value.to_lowercase())
}

pub fn uppercase(value: &str) -> Option<String> {
    Some(value.to_uppercase())
}

/// Turns every run of whitespace (tabs, newlines, NBSP) into one space and
/// trims the ends.
pub fn collapse_spaces(value: &str) -> Option<String> {
    Some(value.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// NULL when the value equals one of `sentinels` exactly (`"N/A"`, `"-"`).
pub fn null_if(value: &str, sentinels: &[String]) -> Option<String> {
    if sentinels.iter().any(|s| s == value) { None } else { Some(value.to_string()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Case = (&'static str, Option<&'static str>);

    fn check(f: impl Fn(&str) -> Option<String>, cases: &[Case]) {
        for (input, expected) in cases {
            assert_eq!(f(input).as_deref(), *expected, "input {input:?}");
        }
    }

    #[test]
    fn trim_cases() {
        check(
            trim,
            &[
                ("", Some("")),
                ("   ", Some("")),
                ("  Ada ", Some("Ada")),
                ("\u{a0}Ada\u{3000}", Some("Ada")),
                ("\tA b\n", Some("A b")),
                ("\u{feff}<?xml version=\"1.0\"?>\u{feff} ", Some("<?xml version=\"1.0\"?>")),
            ],
        );
    }

    #[test]
    fn case_cases() {
        check(lowercase, &[("", Some("")), ("ADA@Example.COM", Some("ada@example.com")), ("ÉMILE", Some("émile"))]);
        check(uppercase, &[("", Some("")), ("straße", Some("STRASSE")), ("ok 1", Some("OK 1"))]);
    }

    #[test]
    fn collapse_spaces_cases() {
        check(
            collapse_spaces,
            &[
                ("", Some("")),
                ("   ", Some("")),
                ("Ada   Lovelace", Some("Ada Lovelace")),
                (" a\t\tb \n c ", Some("a b c")),
                ("a\u{a0}\u{a0}b", Some("a b")),
            ],
        );
    }

    #[test]
    fn null_if_cases() {
        let sentinels = vec!["N/A".to_string(), "-".to_string(), "".to_string()];
        check(
            |v| null_if(v, &sentinels),
            &[
                ("N/A", None),
                ("-", None),
                ("", None),
                ("n/a", Some("n/a")),
                (" N/A", Some(" N/A")),
                ("Ada", Some("Ada")),
            ],
        );
    }
}
