/// The closest candidate to a misspelled name, if one is close enough to be
/// a plausible typo.
pub fn did_you_mean<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let wrong_lower = wrong.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&wrong_lower, &c.to_lowercase()), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let columns = ["first_name", "last_name", "email", "phone", "company"];
        let cases = [
            ("emial", Some("email")),
            ("Email", Some("email")),
            ("firstname", Some("first_name")),
            ("compnay", Some("company")),
            ("zzz", None),
            ("", None),
        ];
        for (wrong, expected) in cases {
            assert_eq!(did_you_mean(wrong, columns), expected, "{wrong}");
        }
    }
}
