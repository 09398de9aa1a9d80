//! Which encoding a file is in: declared, or detected from a sample (BOM,
//! plain ASCII, valid UTF-8, else a statistical guess), with the evidence.

use encoding_rs::Encoding;

use crate::error::CsvError;

/// An encoding and how it was known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detected {
    pub encoding: &'static Encoding,
    pub how: &'static str,
}

/// Names the mapping may use besides encoding_rs's labels.
fn by_name(name: &str) -> Option<&'static Encoding> {
    match name.to_ascii_lowercase().as_str() {
        "latin-1" | "latin1" | "iso-8859-1" => Some(encoding_rs::WINDOWS_1252),
        "mac-roman" | "macroman" | "macintosh" => Some(encoding_rs::MACINTOSH),
        "utf-16" => Some(encoding_rs::UTF_16LE),
        other => Encoding::for_label(other.as_bytes()),
    }
}

/// The encoding of a file whose first bytes are `sample`.
pub fn detect(sample: &[u8], declared: Option<&str>) -> Result<Detected, CsvError> {
    if let Some((encoding, _)) = Encoding::for_bom(sample) {
        return Ok(Detected { encoding, how: "bom" });
    }
    match declared {
        Some("auto") | None => {}
        Some(name) => {
            let encoding = by_name(name).ok_or_else(|| CsvError::Encoding(name.to_string()))?;
            return Ok(Detected { encoding, how: "declared" });
        }
    }
    if let Some(encoding) = utf16_without_bom(sample) {
        return Ok(Detected { encoding, how: "detected (NUL bytes in every other position)" });
    }
    if sample.is_ascii() {
        return Ok(Detected { encoding: encoding_rs::UTF_8, how: "ascii" });
    }
    // A cut multi-byte character at the sample's end is not invalid UTF-8.
    let valid_utf8 = match std::str::from_utf8(sample) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && e.valid_up_to() + 4 > sample.len(),
    };
    if valid_utf8 {
        return Ok(Detected { encoding: encoding_rs::UTF_8, how: "valid_utf8" });
    }
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    detector.feed(sample, false);
    let encoding = detector.guess(None, chardetng::Utf8Detection::Allow);
    Ok(Detected { encoding, how: "detected (statistical guess from the first 64 KiB)" })
}

/// UTF-16 without a BOM shows as ASCII text with a NUL in every other byte.
fn utf16_without_bom(sample: &[u8]) -> Option<&'static Encoding> {
    let pairs = sample.len() / 2;
    if pairs < 8 {
        return None;
    }
    let (even, odd) = sample.chunks_exact(2).fold((0, 0), |(e, o), c| match c {
        [0, b] if *b != 0 => (e + 1, o),
        [a, 0] if *a != 0 => (e, o + 1),
        _ => (e, o),
    });
    if odd * 10 >= pairs * 9 {
        Some(encoding_rs::UTF_16LE)
    } else if even * 10 >= pairs * 9 {
        Some(encoding_rs::UTF_16BE)
    } else {
        None
    }
}

/// Double-encoded UTF-8 (`Ã©` for `é`, `â€™` for `’`): UTF-8 bytes that were
/// decoded as Windows-1252 and encoded again.
pub fn looks_double_encoded(text: &str) -> bool {
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        match (c, next) {
            ('Ã' | 'Â', Some(n)) if ('\u{80}'..='\u{bf}').contains(&n) || "€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ".contains(n) =>
            {
                return true;
            }
            ('â', Some('€')) => return true,
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_cases() {
        let cases: Vec<(&[u8], Option<&str>, &str, &str)> = vec![
            (b"\xEF\xBB\xBFid,name\n", None, "UTF-8", "bom"),
            (b"\xFF\xFEi\0d\0", None, "UTF-16LE", "bom"),
            (b"\xFE\xFF\0i\0d", None, "UTF-16BE", "bom"),
            (b"id,name\n1,Ada\n", None, "UTF-8", "ascii"),
            ("id,name\n1,Zoë\n".as_bytes(), Some("auto"), "UTF-8", "valid_utf8"),
            (b"id,name\n1,Zo\xEB\n", Some("windows-1252"), "windows-1252", "declared"),
            (b"id,name\n1,Zo\xEB\n", Some("latin-1"), "windows-1252", "declared"),
            (b"id,name\n1,Caf\x8E\n", Some("mac-roman"), "macintosh", "declared"),
            (
                b"i\0d\0,\0n\0a\0m\0e\0\n\x001\0,\0A\0d\0a\0\n\0",
                None,
                "UTF-16LE",
                "detected (NUL bytes in every other position)",
            ),
        ];
        for (sample, declared, name, how) in cases {
            let d = detect(sample, declared).unwrap();
            assert_eq!((d.encoding.name(), d.how), (name, how), "{sample:?}");
        }
        let guess = detect(
            "Nom;Prénom;Société
Durand;Zoé;Crédit Agricole
"
            .as_bytes(),
            None,
        )
        .unwrap();
        assert_eq!(guess.encoding.name(), "UTF-8");
        let (latin, _, _) = encoding_rs::WINDOWS_1252
            .encode("Nom;Prénom;Société;Adresse\nDurand;Zoé;Crédit Agricole;Rue de l'Église\n");
        assert_eq!(detect(&latin, None).unwrap().encoding.name(), "windows-1252");
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode("氏名,会社\n山田太郎,株式会社テスト\n佐藤花子,東京電力\n");
        assert_eq!(detect(&sjis, None).unwrap().encoding.name(), "Shift_JIS");
        assert!(matches!(detect(b"x", Some("klingon")), Err(CsvError::Encoding(_))));
    }

    #[test]
    fn double_encoding_is_recognised() {
        for (text, expected) in
            [("CafÃ©", true), ("donâ€™t", true), ("Café", false), ("Ãlvaro", false), ("plain", false)]
        {
            assert_eq!(looks_double_encoded(text), expected, "{text}");
        }
    }
}
