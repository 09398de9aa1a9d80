//! Double-encoded UTF-8: text whose UTF-8 bytes were once decoded as
//! Windows-1252 (or Latin-1) and encoded again, so `é` reads `Ã©` and `’`
//! reads `â€™`. A legacy application or a careless export did it; the
//! customer never typed it.
//!
//! The repair reverses that one decoding, run by run: every maximal run of
//! non-ASCII characters is turned back into the bytes Windows-1252 gives
//! them (Latin-1 for the five bytes Windows-1252 leaves undefined), and
//! replaced by those bytes read as UTF-8 only when they are valid UTF-8.
//! So the round trip is exact: encoding the repaired run as UTF-8 and
//! decoding it as Windows-1252 gives back the original run. A run that does
//! not survive that (a real `Ã` next to ASCII, `Müller`) stays as it is. A
//! value encoded twice over is repaired up to three times.

use std::sync::LazyLock;

/// A value repaired (the warning code).
pub const REPAIRED: &str = "double_encoded_repaired";
/// A value that looks double-encoded but was kept: the repair is off, or
/// its round trip was not exact.
pub const SUSPECT: &str = "double_encoded_utf8";

/// What `[migration] double_encoded` asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DoubleEncoded {
    /// Reverse it where the round trip is exact, and count it (the default).
    #[default]
    Repair,
    /// Load values as the source has them; count the ones that look
    /// double-encoded.
    Keep,
}

/// The characters Windows-1252 decodes the bytes 0x80..=0x9F to.
static C1_ROW: LazyLock<Vec<char>> = LazyLock::new(|| {
    (0x80u8..=0x9F)
        .map(|b| encoding_rs::WINDOWS_1252.decode_without_bom_handling(&[b]).0.chars().next().unwrap_or('\u{fffd}'))
        .collect()
});

/// The byte Windows-1252 (or Latin-1) decodes to `c`.
fn byte_of(c: char) -> Option<u8> {
    let code = c as u32;
    if (0xA0..=0xFF).contains(&code) {
        return u8::try_from(code).ok();
    }
    if let Some(i) = C1_ROW.iter().position(|&x| x == c) {
        return u8::try_from(0x80 + i).ok();
    }
    // Latin-1's C1 controls (a decoder that was not Windows-1252).
    if (0x80..=0x9F).contains(&code) { u8::try_from(code).ok() } else { None }
}

/// One run of non-ASCII characters, decoded back, if that is exact.
fn repair_run(run: &str) -> Option<String> {
    let bytes: Vec<u8> = run.chars().map(byte_of).collect::<Option<_>>()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    (text.chars().count() < run.chars().count()).then(|| text.to_string())
}

fn repair_once(value: &str) -> Option<String> {
    let mut out = String::with_capacity(value.len());
    let mut changed = false;
    let mut rest = value;
    while let Some(start) = rest.find(|c: char| !c.is_ascii()) {
        let (ascii, tail) = rest.split_at(start);
        out.push_str(ascii);
        let end = tail.find(|c: char| c.is_ascii()).unwrap_or(tail.len());
        let (run, after) = tail.split_at(end);
        match repair_run(run) {
            Some(fixed) => {
                out.push_str(&fixed);
                changed = true;
            }
            None => out.push_str(run),
        }
        rest = after;
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// `value` with its double-encoded runs decoded back, or `None` when
/// nothing in it is double-encoded.
pub fn repair(value: &str) -> Option<String> {
    let mut current = repair_once(value)?;
    for _ in 0..2 {
        match repair_once(&current) {
            Some(next) => current = next,
            None => break,
        }
    }
    Some(current)
}

/// Whether a value looks double-encoded: a character that starts a UTF-8
/// sequence when read as Windows-1252 (`Ã`, `Â`, `â`) followed by one that
/// continues it.
pub fn looks_double_encoded(text: &str) -> bool {
    // Ã, Â and â are all 0xC3 in UTF-8: most values are skipped here.
    if !text.as_bytes().contains(&0xC3) {
        return false;
    }
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        match (c, next) {
            ('Ã' | 'Â', Some(n)) if ('\u{80}'..='\u{bf}').contains(&n) || C1_ROW.contains(&n) => return true,
            ('â', Some('€')) => return true,
            _ => {}
        }
    }
    false
}

/// What to do with one source value: `Some((code, new value))` when it is
/// repaired (`new value` is `Some`) or only counted (`None`).
pub fn check(value: &str, mode: DoubleEncoded) -> Option<(&'static str, Option<String>)> {
    if !value.bytes().any(|b| b >= 0xC2) {
        return None;
    }
    match mode {
        DoubleEncoded::Repair => match repair(value) {
            Some(fixed) => Some((REPAIRED, Some(fixed))),
            None => looks_double_encoded(value).then_some((SUSPECT, None)),
        },
        DoubleEncoded::Keep => looks_double_encoded(value).then_some((SUSPECT, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn double_encoded_runs_are_decoded_back_where_the_round_trip_is_exact() {
        let cases: [(&str, Option<&str>); 14] = [
            ("donâ€™t", Some("don’t")),
            ("EspaÃ±a", Some("España")),
            ("CafÃ©", Some("Café")),
            ("ZoÃ« MÃ¼ller", Some("Zoë Müller")),
            ("â€œquotedâ€\u{9d}", Some("“quoted”")),
            ("Å‚ukasz", Some("łukasz")),
            // Latin-1's C1 controls instead of Windows-1252's letters.
            ("Ã\u{83}Â©", Some("é")),
            // Encoded twice over.
            ("CafÃƒÂ©", Some("Café")),
            // Only the double-encoded run changes.
            ("Café â€“ Bar", Some("Café – Bar")),
            ("Café", None),
            ("Müller", None),
            ("Ãlvaro", None),
            ("plain", None),
            ("", None),
        ];
        for (input, expected) in cases {
            assert_eq!(repair(input).as_deref(), expected, "{input:?}");
        }
    }

    #[test]
    fn repaired_values_round_trip_to_the_original() {
        for input in ["donâ€™t", "EspaÃ±a", "ZoÃ« MÃ¼ller", "Å‚ukasz"] {
            let fixed = repair(input).unwrap();
            let (back, _, _) = encoding_rs::WINDOWS_1252.decode(fixed.as_bytes());
            assert_eq!(back, input);
        }
    }

    #[test]
    fn check_repairs_or_counts_by_mode() {
        assert_eq!(check("CafÃ©", DoubleEncoded::Repair), Some((REPAIRED, Some("Café".to_string()))));
        assert_eq!(check("CafÃ©", DoubleEncoded::Keep), Some((SUSPECT, None)));
        assert_eq!(check("Café", DoubleEncoded::Repair), None);
        assert_eq!(check("ascii", DoubleEncoded::Keep), None);
        for (text, expected) in
            [("CafÃ©", true), ("donâ€™t", true), ("Café", false), ("Ãlvaro", false), ("plain", false)]
        {
            assert_eq!(looks_double_encoded(text), expected, "{text}");
        }
    }
}
