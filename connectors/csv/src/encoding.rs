//! Which encoding a file is in: declared, or detected (BOM, plain ASCII,
//! valid UTF-8, else a statistical guess), with the evidence. A file's
//! first bytes can say ASCII while byte 86,000 is Mac Roman: [`detect_file`]
//! reads the whole file before it believes them.

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;

use encoding_rs::Encoding;

use crate::error::CsvError;

/// An encoding and how it was known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    pub encoding: &'static Encoding,
    pub how: Cow<'static, str>,
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
        return Ok(Detected { encoding, how: "bom".into() });
    }
    match declared {
        Some("auto") | None => {}
        Some(name) => {
            let encoding = by_name(name).ok_or_else(|| CsvError::Encoding(name.to_string()))?;
            return Ok(Detected { encoding, how: "declared".into() });
        }
    }
    if let Some(encoding) = utf16_without_bom(sample) {
        return Ok(Detected { encoding, how: "detected (NUL bytes in every other position)".into() });
    }
    if sample.is_ascii() {
        return Ok(Detected { encoding: encoding_rs::UTF_8, how: "ascii".into() });
    }
    // A cut multi-byte character at the sample's end is not invalid UTF-8.
    let valid_utf8 = match std::str::from_utf8(sample) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && e.valid_up_to() + 4 > sample.len(),
    };
    if valid_utf8 {
        return Ok(Detected { encoding: encoding_rs::UTF_8, how: "valid_utf8".into() });
    }
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    detector.feed(sample, false);
    let encoding = detector.guess(None, chardetng::Utf8Detection::Allow);
    Ok(Detected { encoding, how: "detected (statistical guess from the first 64 KiB)".into() })
}

/// Context kept around non-ASCII bytes to choose between single-byte
/// encodings.
const CONTEXT_BYTES: usize = 256 * 1024;

/// The encoding of the file at `path`, whose first bytes are `sample`:
/// as [`detect`] says, unless that rested on the sample alone (ASCII, valid
/// UTF-8, a statistical guess), in which case the whole file is read once
/// to confirm it or decide again.
pub fn detect_file(path: &Path, sample: &[u8], declared: Option<&str>) -> Result<Detected, CsvError> {
    let first = detect(sample, declared)?;
    let from_sample = matches!(first.how.as_ref(), "ascii" | "valid_utf8") || first.how.starts_with("detected (stat");
    if !from_sample {
        return Ok(first);
    }
    let open_error = |source| CsvError::Open { path: path.to_path_buf(), source };
    let mut file = std::io::BufReader::with_capacity(1 << 16, std::fs::File::open(path).map_err(open_error)?);
    let mut scan = Scan::default();
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut chunk).map_err(open_error)?;
        if n == 0 {
            break;
        }
        scan.feed(chunk.get(..n).unwrap_or_default());
    }
    Ok(scan.finish())
}

/// One pass over a file: is it ASCII, is it UTF-8, and if not, what it
/// looks like.
struct Scan {
    offset: u64,
    /// An incomplete UTF-8 sequence at the end of the last chunk.
    carry: Vec<u8>,
    first_non_ascii: Option<u64>,
    first_invalid: Option<u64>,
    detector: chardetng::EncodingDetector,
    context: Vec<u8>,
}

impl Default for Scan {
    fn default() -> Self {
        Self {
            offset: 0,
            carry: Vec::new(),
            first_non_ascii: None,
            first_invalid: None,
            detector: chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny),
            context: Vec::new(),
        }
    }
}

impl Scan {
    fn feed(&mut self, chunk: &[u8]) {
        let start = self.offset;
        self.offset += chunk.len() as u64;
        let Some(at) = chunk.iter().position(|b| *b >= 0x80) else {
            if self.first_invalid.is_none() && !self.carry.is_empty() {
                // A sequence cut by the chunk's end continues with ASCII.
                self.first_invalid = Some(start - self.carry.len() as u64);
            }
            if self.first_non_ascii.is_some() {
                self.detector.feed(chunk, false);
            }
            return;
        };
        self.first_non_ascii.get_or_insert(start + at as u64);
        self.detector.feed(chunk, false);
        if self.context.len() < CONTEXT_BYTES {
            let mut last_end = 0;
            for (i, _) in chunk.iter().enumerate().filter(|(_, b)| **b >= 0x80) {
                let (from, to) = (i.saturating_sub(16).max(last_end), (i + 16).min(chunk.len()));
                if from < to {
                    if from > last_end {
                        self.context.push(b' ');
                    }
                    self.context.extend_from_slice(chunk.get(from..to).unwrap_or_default());
                    last_end = to;
                }
                if self.context.len() >= CONTEXT_BYTES {
                    break;
                }
            }
            self.context.push(b' ');
        }
        if self.first_invalid.is_some() {
            return;
        }
        let mut bytes = std::mem::take(&mut self.carry);
        let base = start - bytes.len() as u64;
        bytes.extend_from_slice(chunk);
        match std::str::from_utf8(&bytes) {
            Ok(_) => {}
            Err(e) if e.error_len().is_none() => {
                self.carry = bytes.get(e.valid_up_to()..).unwrap_or_default().to_vec();
            }
            Err(e) => self.first_invalid = Some(base + e.valid_up_to() as u64),
        }
    }

    fn finish(mut self) -> Detected {
        if self.first_invalid.is_none() && !self.carry.is_empty() {
            self.first_invalid = Some(self.offset - self.carry.len() as u64);
        }
        let Some(invalid) = self.first_invalid else {
            let how = if self.first_non_ascii.is_none() { "ascii" } else { "valid_utf8" };
            return Detected { encoding: encoding_rs::UTF_8, how: how.into() };
        };
        self.detector.feed(&[], true);
        let guess = self.detector.guess(None, chardetng::Utf8Detection::Deny);
        let mut how = format!(
            "detected (statistical guess from the whole file; its first byte that is not UTF-8 is at offset {invalid}"
        );
        let mut encoding = guess;
        if guess.is_single_byte() && guess != encoding_rs::MACINTOSH {
            let fit = |e: &'static Encoding| word_fit(&e.decode_without_bom_handling(&self.context).0);
            let (theirs, mac) = (fit(guess), fit(encoding_rs::MACINTOSH));
            if mac > theirs {
                encoding = encoding_rs::MACINTOSH;
                how.push_str(&format!(
                    "; macintosh rather than {}: accented letters fit their words {mac} to {theirs}",
                    guess.name().to_lowercase()
                ));
            }
        }
        how.push(')');
        Detected { encoding, how: how.into() }
    }
}

/// How well the non-ASCII characters of `text` sit in words: a lowercase
/// letter beside a letter counts for, an uppercase one after a lowercase
/// letter and a control character count against.
fn word_fit(text: &str) -> i64 {
    let chars: Vec<char> = text.chars().collect();
    let letter = |c: Option<&char>| c.is_some_and(|c| c.is_alphabetic());
    let mut score = 0;
    for (i, c) in chars.iter().enumerate().filter(|(_, c)| !c.is_ascii()) {
        let prev = i.checked_sub(1).and_then(|j| chars.get(j));
        let next = chars.get(i + 1);
        if c.is_control() {
            score -= 2;
        } else if c.is_lowercase() && (letter(prev) || letter(next)) {
            score += 1;
        } else if c.is_uppercase() && prev.is_some_and(|p| p.is_lowercase()) {
            score -= 1;
        }
    }
    score
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
            assert_eq!((d.encoding.name(), d.how.as_ref()), (name, how), "{sample:?}");
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
}
