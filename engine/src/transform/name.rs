//! Personal names: one part of "Last, First" or "First Middle Last", and
//! ALL CAPS made readable on request.

use super::Outcome;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NamePart {
    #[default]
    First,
    Last,
    /// Given names after the first.
    Middle,
    /// Leading honorifics (`Dr.`, `Ms.`, `Herr`).
    Title,
    /// Trailing suffixes (`Jr.`, `III`, `MD`).
    Suffix,
    /// "First Last Suffix", whatever order the source wrote; no title.
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

/// Words that lead a name as a title (compared without case and periods).
const TITLES: &[&str] = &[
    "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "rev", "fr", "sir", "dame", "lord", "lady", "herr", "frau", "sr",
    "sra", "srta", "don", "dona", "doña", "mme", "mlle", "hon", "capt", "sgt", "lt", "col", "gen",
];

/// Words that end a name as a suffix (compared without case and periods).
const SUFFIXES: &[&str] = &[
    "jr", "sr", "ii", "iii", "iv", "md", "phd", "dds", "dmd", "dvm", "esq", "cpa", "rn", "jd", "mba", "obe", "mbe",
    "qc", "kc",
];

/// Lowercase words that belong to the last name before it (van Beethoven).
const PARTICLES: &[&str] = &[
    "van", "von", "de", "der", "den", "del", "della", "di", "da", "du", "la", "le", "dos", "das", "ter", "ten", "bin",
    "ibn", "al",
];

fn bare(word: &str) -> String {
    word.trim_matches(|c: char| c == '.' || c == ',').to_lowercase()
}

fn is_title(word: &str) -> bool {
    // `M.` (Monsieur) only with its period: a bare single letter is an initial.
    word == "M." || TITLES.contains(&bare(word).as_str())
}

fn is_suffix(word: &str) -> bool {
    SUFFIXES.contains(&bare(word).as_str())
}

/// A name taken apart.
#[derive(Debug, Default, PartialEq, Eq)]
struct Parts {
    title: Vec<String>,
    given: Vec<String>,
    last: Vec<String>,
    suffix: Vec<String>,
}

fn split(value: &str) -> Parts {
    let mut parts = Parts::default();
    let segments: Vec<&str> = value.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    // `comma_last`: the last name written first ("Last, First").
    let (mut names, comma_last, mut trailing) = match segments.as_slice() {
        [] => (Vec::new(), None, Vec::new()),
        [one] => (words(one), None, Vec::new()),
        // "Davis, Jr." and "Williams, Kristen MD": segments after the first
        // that are all suffixes end the name; otherwise "Last, First".
        [first, rest @ ..] if rest.iter().all(|s| words(s).iter().all(|w| is_suffix(w))) => {
            (words(first), None, rest.iter().flat_map(|s| words(s)).collect())
        }
        [last, rest @ ..] => (rest.iter().flat_map(|s| words(s)).collect(), Some(words(last)), Vec::new()),
    };
    let keep = usize::from(comma_last.is_none());
    while names.len() > keep && names.first().is_some_and(|w| is_title(w)) {
        parts.title.push(names.remove(0));
    }
    while names.len() > 1 && names.last().is_some_and(|w| is_suffix(w)) {
        trailing.insert(0, names.pop().unwrap_or_default());
    }
    match (comma_last, names.len()) {
        (Some(last), _) => {
            parts.given = names;
            parts.last = last;
        }
        (None, 0) => {}
        // One word: a first name, unless a title leads it ("Dr. Smith").
        (None, 1) if parts.title.is_empty() => parts.given = names,
        (None, 1) => parts.last = names,
        (None, n) => {
            let mut start = n - 1;
            while start > 1 && names.get(start - 1).is_some_and(|w| PARTICLES.contains(&w.as_str())) {
                start -= 1;
            }
            parts.last = names.split_off(start);
            parts.given = names;
        }
    }
    // "Davis. Jr.": the stop before a suffix is punctuation, not the name's.
    if !trailing.is_empty()
        && let Some(w) = parts.last.last_mut()
        && w.chars().filter(|c| c.is_alphabetic()).count() > 1
    {
        *w = w.trim_end_matches(['.', ',']).to_string();
    }
    parts.suffix = trailing;
    parts
}

/// One part of a name; see the README ("Names") for how words are taken.
pub fn name_part(raw: &str, spec: &NameSpec) -> Outcome {
    let mut value = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if spec.fix_caps && value.chars().any(char::is_alphabetic) && !value.chars().any(char::is_lowercase) {
        value = title_case(&value);
    }
    let p = split(&value);
    let join = |w: &[String]| w.join(" ");
    let part = match spec.part {
        NamePart::First => join(&p.given),
        NamePart::Middle => join(p.given.get(1..).unwrap_or_default()),
        NamePart::Last => join(&p.last),
        NamePart::Title => join(&p.title),
        NamePart::Suffix => join(&p.suffix),
        NamePart::Full => [join(&p.given), join(&p.last), join(&p.suffix)]
            .into_iter()
            .filter(|x| !x.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
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

    #[test]
    fn titles_lead_suffixes_trail_and_position_decides() {
        // (input, title, first, middle, last, suffix); "" is NULL.
        let cases: [(&str, [&str; 5]); 12] = [
            ("Ms. Kristen Williams MD", ["Ms.", "Kristen", "", "Williams", "MD"]),
            ("Dr. Angela Brown", ["Dr.", "Angela", "", "Brown", ""]),
            ("Louis Davis. Jr.", ["", "Louis", "", "Davis", "Jr."]),
            ("Louis Davis, Jr.", ["", "Louis", "", "Davis", "Jr."]),
            ("Sr. Juan Pérez", ["Sr.", "Juan", "", "Pérez", ""]),
            ("Juan Pérez Sr.", ["", "Juan", "", "Pérez", "Sr."]),
            ("M. Jean Dupont", ["M.", "Jean", "", "Dupont", ""]),
            ("Jean M. Dupont", ["", "Jean M.", "M.", "Dupont", ""]),
            ("Prof. Dr. Grace Brewster Hopper PhD", ["Prof. Dr.", "Grace Brewster", "Brewster", "Hopper", "PhD"]),
            ("Herr Ludwig van Beethoven", ["Herr", "Ludwig", "", "van Beethoven", ""]),
            ("Williams, Kristen MD", ["", "Kristen", "", "Williams", "MD"]),
            ("Dr. Smith", ["Dr.", "", "", "Smith", ""]),
        ];
        let parts = [NamePart::Title, NamePart::First, NamePart::Middle, NamePart::Last, NamePart::Suffix];
        for (input, expected) in cases {
            for (part, want) in parts.iter().zip(expected) {
                let got = name_part(input, &NameSpec { part: *part, fix_caps: false });
                let want = if want.is_empty() { Outcome::Null } else { Outcome::Value(want.to_string()) };
                assert_eq!(got, want, "{input:?} {part:?}");
            }
        }
        let full = name_part("Ms. Kristen Williams MD", &NameSpec { part: NamePart::Full, fix_caps: false });
        assert_eq!(full, Outcome::Value("Kristen Williams MD".into()));
    }
}
