//! Whether a parsed phone number is valid: the same answer as
//! `phonenumber::PhoneNumber::is_valid`, from the same metadata, without
//! the crate's shared regex cache.
//!
//! The crate compiles each pattern of its metadata on demand into one
//! cache behind a global mutex: every match locks it, hashes the pattern's
//! whole text with SipHash to find the compiled regex, and runs the match
//! while holding the lock. A number is checked against about ten patterns,
//! so the `phone` transform spent most of its time there and two mapping
//! threads took turns (bench/RESULTS.md, 2026-12-07). Here each region's
//! patterns are compiled once, on first use, and matched without a lock.
//!
//! The rules are the crate's (`validator::is_valid_with`): the number's
//! region is the only one of its calling code, or the first of them whose
//! leading digits (or, without those, whose patterns) match; the number is
//! valid when that region's general pattern matches and so does one of the
//! patterns of a number type. A pattern matches when the national number
//! has one of its possible lengths (when it lists any) and the pattern
//! matches from the number's first digit.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, RwLock};

use phonenumber::metadata::{DATABASE, Descriptor, Metadata};
use phonenumber::{PhoneNumber, country};
use regex::{Regex, RegexBuilder};

/// One descriptor's pattern, compiled, with its lengths.
struct Pattern {
    lengths: Vec<u16>,
    regex: Regex,
}

impl Pattern {
    fn new(descriptor: &Descriptor) -> Option<Self> {
        Some(Pattern {
            lengths: descriptor.possible_length().to_vec(),
            regex: anchored(descriptor.national_number().as_str())?,
        })
    }

    fn matches(&self, national: &str) -> bool {
        (self.lengths.is_empty() || u16::try_from(national.len()).is_ok_and(|n| self.lengths.contains(&n)))
            && self.regex.is_match(national)
    }
}

/// A pattern matched from the start, as the crate's "found at 0" is.
fn anchored(source: &str) -> Option<Regex> {
    RegexBuilder::new(&format!("^(?:{source}\n)")).ignore_whitespace(true).build().ok()
}

/// A region's patterns. `None` for one whose pattern does not compile
/// (the crate then finds no match either).
struct Region {
    leading_digits: Option<Regex>,
    general: Pattern,
    /// The descriptors that give a number a type, in any order: a number
    /// of any type is valid.
    types: Vec<Pattern>,
}

impl Region {
    fn new(meta: &Metadata) -> Option<Self> {
        let d = meta.descriptors();
        let typed = [
            d.premium_rate(),
            d.toll_free(),
            d.shared_cost(),
            d.voip(),
            d.personal_number(),
            d.pager(),
            d.uan(),
            d.voicemail(),
            d.fixed_line(),
            d.mobile(),
        ];
        let mut types = Vec::new();
        for descriptor in typed.into_iter().flatten() {
            types.push(Pattern::new(descriptor)?);
        }
        let leading_digits = match meta.leading_digits() {
            Some(re) => Some(anchored(re.as_str())?),
            None => None,
        };
        Some(Region { leading_digits, general: Pattern::new(d.general())?, types })
    }

    /// The crate's `number_type(..) != Unknown`.
    fn has_type(&self, national: &str) -> bool {
        self.general.matches(national) && self.types.iter().any(|p| p.matches(national))
    }
}

type Key = (u16, &'static str);

/// Regions compiled so far, by (calling code, region id): `001` names
/// several non-geographic codes.
static REGIONS: LazyLock<RwLock<HashMap<Key, Option<Arc<Region>>>>> = LazyLock::new(Default::default);

fn region(meta: &'static Metadata) -> Option<Arc<Region>> {
    let key = (meta.country_code(), meta.id());
    if let Some(found) = REGIONS.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return found.clone();
    }
    let compiled = Region::new(meta).map(Arc::new);
    REGIONS.write().unwrap_or_else(|e| e.into_inner()).entry(key).or_insert(compiled).clone()
}

/// `number.is_valid()`, answered from regexes compiled once.
pub fn is_valid(number: &PhoneNumber) -> bool {
    let code = number.code().value();
    let national = number.national().to_string();
    let Some(meta) = metadata_for(code, &national) else {
        return false;
    };
    region(meta).is_some_and(|r| r.has_type(&national))
}

/// The crate's `source_for`: which region's metadata judges the number.
fn metadata_for(code: u16, national: &str) -> Option<&'static Metadata> {
    let database: &'static phonenumber::metadata::Database = &DATABASE;
    let regions = database.region(&code)?;
    if let [only] = regions[..] {
        if only == "001" {
            return database.by_code(&code)?.into_iter().next();
        }
        only.parse::<country::Id>().ok()?;
        return database.by_id(only);
    }
    for id in regions {
        let meta = database.by_id(id)?;
        let compiled = region(meta)?;
        let chosen = match &compiled.leading_digits {
            Some(leading) => leading.is_match(national),
            None => compiled.has_type(national),
        };
        if chosen {
            return Some(meta);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every region's example numbers of every type, and each of them
    /// with a digit dropped, a digit added and its first digit changed,
    /// parsed both ways: this module and the crate agree on every one.
    #[test]
    fn agrees_with_the_crate_on_every_regions_examples_and_their_neighbours() {
        let mut checked = 0;
        let mut valid = 0;
        for meta in DATABASE.iter() {
            let d = meta.descriptors();
            let descriptors = [
                Some(d.general()),
                d.fixed_line(),
                d.mobile(),
                d.toll_free(),
                d.premium_rate(),
                d.shared_cost(),
                d.personal_number(),
                d.voip(),
                d.pager(),
                d.uan(),
                d.voicemail(),
            ];
            for example in descriptors.into_iter().flatten().filter_map(Descriptor::example) {
                let first = example.chars().next().and_then(|c| c.to_digit(10)).unwrap_or(0);
                let variants = [
                    example.to_string(),
                    example[..example.len() - 1].to_string(),
                    format!("{example}7"),
                    format!("{}{}", (first + 1) % 10, &example[1..]),
                ];
                for national in variants {
                    let text = format!("+{}{national}", meta.country_code());
                    let Ok(number) = phonenumber::parse(None, &text) else { continue };
                    assert_eq!(is_valid(&number), number.is_valid(), "{text} ({})", meta.id());
                    checked += 1;
                    valid += usize::from(number.is_valid());
                }
            }
        }
        // Both answers occur, often: the comparison is not of one kind.
        assert!(checked > 3000, "{checked} numbers checked");
        assert!(valid > 1000 && checked - valid > 1000, "{valid} valid of {checked}");
    }

    #[test]
    fn regions_sharing_a_calling_code_are_told_apart() {
        let cases = [
            ("+1 650 253 0000", true),  // US
            ("+1 123 456 7890", false), // no area code starts with 1
            ("+1 204 234 5678", true),  // CA
            ("+1 268 464 1234", true),  // AG, by its leading digits
            ("+7 495 123 4567", true),  // RU
            ("+7 771 000 9998", true),  // KZ
            ("+44 7912 345678", true),
            ("+44 791234567", false),
            ("+800 1234 5678", true), // non-geographic, region 001
            ("+800 123456789", false),
        ];
        for (text, expected) in cases {
            let number = phonenumber::parse(None, text).unwrap();
            assert_eq!(number.is_valid(), expected, "the crate on {text}");
            assert_eq!(is_valid(&number), expected, "{text}");
        }
    }
}
