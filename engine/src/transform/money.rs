//! Legacy amounts → an exact decimal and an ISO 4217 code. Strict: a value
//! that does not read unambiguously in the column's locale is rejected, not
//! guessed (`1.234,56` in an `en` column is an error, never 1.234).

use std::str::FromStr;

use rust_decimal::Decimal;

use super::Outcome;
use crate::reject::RejectReason;

/// How digits are grouped and where the decimals start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Locale {
    /// `1,234.56`
    #[default]
    En,
    /// `1.234,56`
    De,
    /// `1 234,56` (space, NBSP or narrow NBSP)
    Fr,
    /// `1'234.50`
    Ch,
}

impl Locale {
    pub const NAMES: &'static [&'static str] = &["en", "de", "fr", "ch"];

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "en" => Some(Locale::En),
            "de" => Some(Locale::De),
            "fr" => Some(Locale::Fr),
            "ch" => Some(Locale::Ch),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::De => "de",
            Locale::Fr => "fr",
            Locale::Ch => "ch",
        }
    }

    fn decimal(self) -> char {
        match self {
            Locale::En | Locale::Ch => '.',
            Locale::De | Locale::Fr => ',',
        }
    }

    fn is_group(self, c: char) -> bool {
        let space = matches!(c, ' ' | '\u{a0}' | '\u{202f}');
        match self {
            Locale::En => c == ',' || space,
            Locale::De => c == '.' || space,
            Locale::Fr => space,
            Locale::Ch => c == '\'' || c == '’' || space,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MoneySpec {
    pub locale: Locale,
    /// `locale = "auto"`: the locale is chosen from the data before the run
    /// (see `infer`).
    pub infer_locale: bool,
    /// The currency of amounts that name none, and what `$`, `¥` or `kr`
    /// mean. Without it such amounts are rejected.
    pub default_currency: Option<String>,
    /// Into the org's currency, at the rate of the row's date.
    pub convert: Option<super::convert::Conversion>,
}

/// Currency codes accepted in values and as defaults.
pub const CURRENCIES: &[&str] = &[
    "AED", "ARS", "AUD", "BGN", "BRL", "CAD", "CHF", "CLP", "CNY", "COP", "CZK", "DKK", "EGP", "EUR", "GBP", "HKD",
    "HUF", "IDR", "ILS", "INR", "ISK", "JPY", "KRW", "MXN", "MYR", "NGN", "NOK", "NZD", "PEN", "PHP", "PKR", "PLN",
    "RON", "RUB", "SAR", "SEK", "SGD", "THB", "TRY", "TWD", "UAH", "USD", "VND", "ZAR",
];

enum Symbol {
    Code(&'static str),
    /// Used by several currencies: the default decides, among these.
    Shared(&'static str, &'static [&'static str]),
}

/// Longest first, so `US$` wins over `$`.
const SYMBOLS: &[(&str, Symbol)] = &[
    ("US$", Symbol::Code("USD")),
    ("CA$", Symbol::Code("CAD")),
    ("AU$", Symbol::Code("AUD")),
    ("NZ$", Symbol::Code("NZD")),
    ("HK$", Symbol::Code("HKD")),
    ("R$", Symbol::Code("BRL")),
    ("C$", Symbol::Code("CAD")),
    ("A$", Symbol::Code("AUD")),
    ("Fr.", Symbol::Code("CHF")),
    ("zł", Symbol::Code("PLN")),
    ("Kč", Symbol::Code("CZK")),
    ("kr", Symbol::Shared("kr", &["SEK", "NOK", "DKK", "ISK"])),
    ("€", Symbol::Code("EUR")),
    ("£", Symbol::Code("GBP")),
    ("₹", Symbol::Code("INR")),
    ("₽", Symbol::Code("RUB")),
    ("₩", Symbol::Code("KRW")),
    ("₺", Symbol::Code("TRY")),
    ("$", Symbol::Shared("$", &["USD", "CAD", "AUD", "NZD", "HKD", "SGD", "MXN", "ARS", "CLP", "COP"])),
    ("¥", Symbol::Shared("¥", &["JPY", "CNY"])),
];

fn fail(message: String) -> Outcome {
    Outcome::Failed(RejectReason::InvalidAmount, message)
}

/// Takes a currency symbol or code off either end of `s`.
fn take_currency<'a>(s: &'a str, spec: &MoneySpec) -> Result<Option<(&'a str, &'static str)>, String> {
    for (symbol, meaning) in SYMBOLS {
        let rest = s.strip_prefix(symbol).or_else(|| s.strip_suffix(symbol));
        let Some(rest) = rest else { continue };
        let code = match meaning {
            Symbol::Code(c) => *c,
            Symbol::Shared(sym, options) => {
                match spec.default_currency.as_deref().and_then(|d| options.iter().find(|o| **o == d)) {
                    Some(c) => c,
                    None if *sym == "¥" => "JPY",
                    None => {
                        return Err(format!(
                            "`{sym}` is used by several currencies ({}); set the column's currency",
                            options.join(", ")
                        ));
                    }
                }
            }
        };
        return Ok(Some((rest, code)));
    }
    let upper_code = |t: &str| {
        let t = t.to_ascii_uppercase();
        CURRENCIES.iter().find(|c| **c == t).copied()
    };
    if let Some((head, tail)) = s.get(..3).zip(s.get(3..))
        && head.chars().all(|c| c.is_ascii_alphabetic())
        && let Some(code) = upper_code(head)
    {
        return Ok(Some((tail, code)));
    }
    let n = s.len();
    if n >= 3
        && let Some((head, tail)) = s.get(..n - 3).zip(s.get(n - 3..))
        && tail.chars().all(|c| c.is_ascii_alphabetic())
        && let Some(code) = upper_code(tail)
    {
        return Ok(Some((head, code)));
    }
    Ok(None)
}

/// Reads one amount; the result is `AMOUNT CODE`, e.g. `-1234.56 EUR`.
pub fn parse_money(raw: &str, spec: &MoneySpec) -> Outcome {
    let mut s = raw.trim();
    if s.is_empty() {
        return Outcome::Null;
    }
    let mut negative = false;
    let mut currency: Option<&'static str> = None;
    // Signs, brackets and currency come in any order around the number:
    // `-$1,234.56`, `$-1,234.56`, `(€12.00)`, `123.45-`, `USD 1,234`.
    loop {
        let before = s;
        let Some(rest) = take_signs(s, &mut negative) else {
            return fail(format!("{raw:?} is negative twice"));
        };
        s = rest;
        if currency.is_none() {
            match take_currency(s, spec) {
                Ok(Some((rest, code))) => {
                    currency = Some(code);
                    s = rest.trim();
                }
                Ok(None) => {}
                Err(message) => return Outcome::Failed(RejectReason::UnknownCurrency, format!("{raw:?}: {message}")),
            }
        }
        if s == before {
            break;
        }
    }
    let Some(number) = normalize_number(s, spec.locale) else {
        return fail(format!("{raw:?} is not an amount in the {} locale", spec.locale.name()));
    };
    let Ok(mut amount) = Decimal::from_str(&number) else {
        return fail(format!("{raw:?} has more digits than an exact amount can hold"));
    };
    if negative {
        amount.set_sign_negative(true);
    }
    let code = match (currency, spec.default_currency.as_deref()) {
        (Some(c), _) => c,
        (None, Some(d)) => match CURRENCIES.iter().find(|c| **c == d) {
            Some(c) => c,
            None => return Outcome::Failed(RejectReason::UnknownCurrency, format!("unknown currency {d}")),
        },
        (None, None) => {
            return Outcome::Failed(
                RejectReason::UnknownCurrency,
                format!("{raw:?} names no currency and the column has no default currency"),
            );
        }
    };
    Outcome::Value(format!("{amount} {code}"))
}

/// One pass over the signs around a number: brackets, a leading or
/// trailing `-`, a leading `+`; `None` when it is negative twice.
fn take_signs<'a>(mut s: &'a str, negative: &mut bool) -> Option<&'a str> {
    if let Some(inner) = s.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        if *negative {
            return None;
        }
        *negative = true;
        s = inner.trim();
    }
    if let Some(rest) = s.strip_prefix('-').or_else(|| s.strip_suffix('-')) {
        if *negative {
            return None;
        }
        *negative = true;
        s = rest.trim();
    }
    if let Some(rest) = s.strip_prefix('+') {
        s = rest.trim();
    }
    Some(s)
}

/// A number in `locale` (`1,644`, `-1.234,56`, `(12.00)`) as an exact
/// decimal in PostgreSQL's form (`1644`, `-1234.56`, `-12.00`).
pub fn parse_number(raw: &str, locale: Locale) -> Outcome {
    let s = raw.trim();
    if s.is_empty() {
        return Outcome::Null;
    }
    let mut negative = false;
    let Some(s) = take_signs(s, &mut negative) else {
        return fail(format!("{raw:?} is negative twice"));
    };
    let Some(number) = normalize_number(s, locale) else {
        return fail(format!("{raw:?} is not a number in the {} locale", locale.name()));
    };
    let Ok(mut n) = Decimal::from_str(&number) else {
        return fail(format!("{raw:?} has more digits than an exact number can hold"));
    };
    if negative {
        n.set_sign_negative(true);
    }
    Outcome::Value(n.to_string())
}

/// Digits with grouping checked (threes after the first group) and the
/// locale's decimal mark turned into `.`; `None` when it does not read.
fn normalize_number(s: &str, locale: Locale) -> Option<String> {
    let (int_part, frac_part) = match s.split_once(locale.decimal()) {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let mut groups: Vec<&str> = Vec::new();
    let mut start = 0;
    for (i, c) in int_part.char_indices() {
        if locale.is_group(c) {
            groups.push(int_part.get(start..i)?);
            start = i + c.len_utf8();
        } else if !c.is_ascii_digit() {
            return None;
        }
    }
    groups.push(int_part.get(start..)?);
    let (first, rest) = groups.split_first()?;
    if first.is_empty() && (frac_part.is_none() || !rest.is_empty()) {
        return None;
    }
    if first.len() > 3 && !rest.is_empty() {
        return None;
    }
    if rest.iter().any(|g| g.len() != 3) {
        return None;
    }
    let mut out: String = groups.concat();
    if out.is_empty() {
        out.push('0');
    }
    if let Some(f) = frac_part {
        if f.is_empty() || !f.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        out.push('.');
        out.push_str(f);
    }
    Some(out)
}

/// Evidence for the locale of a column of amounts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocaleEvidence {
    pub values: u64,
    /// Values whose last mark is a decimal point (`1,234.56`, `0.5`).
    pub point: u64,
    /// Values whose last mark is a decimal comma (`1.234,56`, `12,50`).
    pub comma: u64,
    /// Comma-decimal values grouped with spaces (`1 234,56`).
    pub spaced: u64,
    /// Values grouped with apostrophes (`1'234.50`).
    pub apostrophe: u64,
    pub point_example: Option<String>,
    pub comma_example: Option<String>,
    pub ambiguous_example: Option<String>,
}

impl LocaleEvidence {
    pub fn observe(&mut self, raw: &str) {
        let digits: String = raw
            .chars()
            .filter(|c| c.is_ascii_digit() || matches!(c, '.' | ',' | '\'' | '’' | ' ' | '\u{a0}' | '\u{202f}'))
            .collect();
        let digits = digits.trim();
        if !digits.chars().any(|c| c.is_ascii_digit()) {
            return;
        }
        self.values += 1;
        if digits.contains('\'') || digits.contains('’') {
            self.apostrophe += 1;
        }
        let last = digits.rfind(['.', ',']);
        let Some(at) = last else { return };
        let mark = digits[at..].chars().next();
        let after = digits[at + 1..].chars().filter(char::is_ascii_digit).count();
        let both = digits.contains('.') && digits.contains(',');
        // `1,234` or `1.234` alone could be either: a group or decimals.
        if !both && after == 3 && digits.matches(['.', ',']).count() == 1 {
            self.ambiguous_example.get_or_insert_with(|| raw.trim().to_string());
            return;
        }
        match mark {
            Some('.') => {
                self.point += 1;
                self.point_example.get_or_insert_with(|| raw.trim().to_string());
            }
            Some(',') => {
                self.comma += 1;
                self.comma_example.get_or_insert_with(|| raw.trim().to_string());
                if digits.contains([' ', '\u{a0}', '\u{202f}']) {
                    self.spaced += 1;
                }
            }
            _ => {}
        }
    }

    pub fn decide(&self) -> Result<Locale, String> {
        match (self.point, self.comma) {
            (0, 0) => Err(match &self.ambiguous_example {
                Some(e) => format!(
                    "ambiguous: amounts like {e:?} read as a thousands group in one locale and as decimals in another"
                ),
                None => "no amounts with decimals or groups to decide from".to_string(),
            }),
            (_, 0) if self.apostrophe > 0 => Ok(Locale::Ch),
            (_, 0) => Ok(Locale::En),
            (0, _) if self.spaced > 0 => Ok(Locale::Fr),
            (0, _) => Ok(Locale::De),
            (p, c) => Err(format!(
                "inconsistent: {p} values end in a decimal point (e.g. {:?}) and {c} in a decimal comma (e.g. {:?})",
                self.point_example.as_deref().unwrap_or(""),
                self.comma_example.as_deref().unwrap_or("")
            )),
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "{} amounts: {} with a decimal point{}, {} with a decimal comma{}",
            self.values,
            self.point,
            self.point_example.as_deref().map(|e| format!(" (e.g. {e:?})")).unwrap_or_default(),
            self.comma,
            self.comma_example.as_deref().map(|e| format!(" (e.g. {e:?})")).unwrap_or_default(),
        )
    }
}

/// Splits a canonical `AMOUNT CODE`.
pub fn split_money(value: &str) -> Option<(&str, &str)> {
    value.split_once(' ')
}

#[cfg(test)]
mod tests;
