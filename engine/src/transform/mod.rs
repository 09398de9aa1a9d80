//! Column transforms: small functions over one text column, applied in the
//! order a mapping lists them. Each declares what it takes and gives, so a
//! mapping is checked before a row is read. Values pass between transforms
//! as text in a canonical form (`2018-03-06`, `2018-03-06 14:00:00.000000+00`,
//! `-1234.56 EUR`, `true`), which is also PostgreSQL's input form: exact,
//! never a float.

mod boolean;
mod contact;
pub mod convert;
pub mod date;
mod duration;
mod json;
pub mod mojibake;
pub mod money;
mod name;
mod phone_valid;
mod text;
pub(crate) mod value_map;

use polars::prelude::*;

pub use boolean::{BooleanSpec, parse_boolean};
pub use chrono::NaiveDate;
pub use chrono_tz::Tz;
pub use contact::{
    EmailPart, EmailSpec, NOTE_DISPLAY_NAME, PhoneSpec, normalize_email, normalize_phone, parse_with_regions,
};
pub use convert::{Conversion, RatesTable};
pub use date::{DateFormat, DateOutput, DateSpec, DayOrder};
pub use duration::{DurationOutput, duration_millis, parse_duration};
pub use json::{join, parse_json, split};
pub use money::{Locale, MoneySpec, parse_money, parse_number};
pub use name::{NamePart, NameSpec, name_part};
pub use text::{collapse_spaces, lowercase, null_if, trim, uppercase};
pub use value_map::ValueMap;

use crate::reject::RejectReason;

/// The kind of value flowing between transforms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Text,
    Date,
    Timestamp,
    /// An exact amount and its ISO 4217 code: `-1234.56 EUR`.
    Money,
    Boolean,
    /// A JSON value, kept as JSON in a JSONB key.
    Json,
    /// An exact decimal number (`1644`, `-12.50`): a JSON number in a JSONB
    /// key, the value of a numeric or integer column.
    Number,
}

impl ValueKind {
    pub fn name(self) -> &'static str {
        match self {
            ValueKind::Text => "text",
            ValueKind::Date => "a date",
            ValueKind::Timestamp => "a timestamp",
            ValueKind::Money => "an amount with a currency",
            ValueKind::Boolean => "a boolean",
            ValueKind::Json => "JSON",
            ValueKind::Number => "a number",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Transform {
    Trim,
    Lowercase,
    Uppercase,
    CollapseSpaces,
    /// Values equal to one of these (after the previous transforms) become NULL.
    NullIf(Vec<String>),
    Date(Box<DateSpec>),
    Money(MoneySpec),
    Email(EmailSpec),
    Phone(PhoneSpec),
    Boolean(BooleanSpec),
    Map(ValueMap),
    Name(NameSpec),
    /// Cut to this many characters (the target column's limit), counted.
    Truncate(usize),
    /// The value is JSON: checked, and kept as JSON in a JSONB key.
    Json,
    /// A JSON array's elements joined by the separator.
    Join(String),
    /// The first of these prefixes the value starts with, removed.
    StripPrefix(Vec<String>),
    /// The first of these suffixes the value ends with, removed.
    StripSuffix(Vec<String>),
    /// A packed list (`"a, b, c"`) split on the separator into a JSON array
    /// of its trimmed, non-empty items.
    Split(String),
    /// A number written in a locale (`1,644`, `1.234,56`) as an exact
    /// decimal.
    Number(Locale),
    /// An elapsed time (`255:10:10`, `PT36H30M`) as seconds or ISO 8601.
    Duration(DurationOutput),
}

/// One value's fate in a transform.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Value(String),
    Null,
    /// NULL, and counted in the report under this code.
    NullNoted(&'static str),
    /// A value, and counted in the report under this code.
    ValueNoted(String, &'static str),
    Failed(RejectReason, String),
}

/// A value a transform could not convert; the row is rejected.
#[derive(Debug, Clone, PartialEq)]
pub struct TransformFailure {
    pub row: usize,
    pub reason: RejectReason,
    pub message: String,
}

/// Something a transform did that the customer should know about (a
/// sentinel date made NULL, a value cut short); counted per column.
#[derive(Debug, Clone, PartialEq)]
pub struct TransformNote {
    pub row: usize,
    pub code: &'static str,
    /// The value before the transform.
    pub example: String,
}

#[derive(Debug, Clone)]
pub struct TransformOutput {
    pub values: StringChunked,
    pub failures: Vec<TransformFailure>,
    pub notes: Vec<TransformNote>,
}

impl Transform {
    /// Every transform name a mapping may use, for suggestions.
    pub const NAMES: &'static [&'static str] = &[
        "trim",
        "lowercase",
        "uppercase",
        "collapse_spaces",
        "null_if",
        "date",
        "money",
        "email",
        "phone",
        "boolean",
        "map",
        "name",
        "truncate",
        "json",
        "join",
        "strip_prefix",
        "strip_suffix",
        "split",
        "number",
        "duration",
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Transform::Trim => "trim",
            Transform::Lowercase => "lowercase",
            Transform::Uppercase => "uppercase",
            Transform::CollapseSpaces => "collapse_spaces",
            Transform::NullIf(_) => "null_if",
            Transform::Date(_) => "date",
            Transform::Money(_) => "money",
            Transform::Email(_) => "email",
            Transform::Phone(_) => "phone",
            Transform::Boolean(_) => "boolean",
            Transform::Map(_) => "map",
            Transform::Name(_) => "name",
            Transform::Truncate(_) => "truncate",
            Transform::Json => "json",
            Transform::Join(_) => "join",
            Transform::StripPrefix(_) => "strip_prefix",
            Transform::StripSuffix(_) => "strip_suffix",
            Transform::Split(_) => "split",
            Transform::Number(_) => "number",
            Transform::Duration(_) => "duration",
        }
    }

    /// What the transform reads: every transform reads text.
    pub fn input(&self) -> ValueKind {
        ValueKind::Text
    }

    pub fn output(&self) -> ValueKind {
        match self {
            Transform::Date(spec) => match spec.output {
                DateOutput::Date => ValueKind::Date,
                DateOutput::Timestamp => ValueKind::Timestamp,
            },
            Transform::Money(_) => ValueKind::Money,
            Transform::Boolean(_) => ValueKind::Boolean,
            Transform::Json | Transform::Split(_) => ValueKind::Json,
            Transform::Number(_) | Transform::Duration(DurationOutput::Seconds) => ValueKind::Number,
            _ => ValueKind::Text,
        }
    }

    /// Applies the transform to a column. Rows it cannot convert come back
    /// as failures (and NULL in the output).
    pub fn apply(&self, column: &StringChunked) -> TransformOutput {
        match self {
            Transform::Trim => map_values(column, |v| text_outcome(trim(v))),
            Transform::Lowercase => map_values(column, |v| text_outcome(lowercase(v))),
            Transform::Uppercase => map_values(column, |v| text_outcome(uppercase(v))),
            Transform::CollapseSpaces => map_values(column, |v| text_outcome(collapse_spaces(v))),
            Transform::NullIf(values) => map_values(column, |v| text_outcome(null_if(v, values))),
            Transform::Date(spec) => map_values(column, |v| date::parse_date(v, spec)),
            Transform::Money(spec) => map_values(column, |v| parse_money(v, spec)),
            Transform::Email(spec) => map_values(column, |v| normalize_email(v, spec)),
            Transform::Phone(spec) => map_values(column, |v| normalize_phone(v, spec)),
            Transform::Boolean(spec) => map_values(column, |v| parse_boolean(v, spec)),
            Transform::Map(map) => map_values(column, |v| map.lookup(v)),
            Transform::Name(spec) => map_values(column, |v| name_part(v, spec)),
            Transform::Truncate(max) => map_values(column, |v| truncate(v, *max)),
            Transform::Json => map_values(column, parse_json),
            Transform::Join(separator) => map_values(column, |v| join(v, separator)),
            Transform::StripPrefix(prefixes) => map_values(column, |v| {
                let v = prefixes.iter().find_map(|p| v.strip_prefix(p.as_str())).unwrap_or(v);
                text_outcome(Some(v.to_string()).filter(|v| !v.is_empty()))
            }),
            Transform::StripSuffix(suffixes) => map_values(column, |v| {
                let v = suffixes.iter().find_map(|p| v.strip_suffix(p.as_str())).unwrap_or(v);
                text_outcome(Some(v.to_string()).filter(|v| !v.is_empty()))
            }),
            Transform::Split(separator) => map_values(column, |v| split(v, separator)),
            Transform::Number(locale) => map_values(column, |v| parse_number(v, *locale)),
            Transform::Duration(output) => map_values(column, |v| parse_duration(v, *output)),
        }
    }
}

fn text_outcome(value: Option<String>) -> Outcome {
    value.map_or(Outcome::Null, Outcome::Value)
}

/// Cuts a value to `max` characters.
pub fn truncate(value: &str, max: usize) -> Outcome {
    match value.char_indices().nth(max) {
        Some((cut, _)) => Outcome::ValueNoted(value[..cut].to_string(), "truncated"),
        None => Outcome::Value(value.to_string()),
    }
}

/// Applies a per-value function column-wise, keeping the column's name;
/// NULL stays NULL without calling `f`.
pub fn map_values<F>(column: &StringChunked, f: F) -> TransformOutput
where
    F: Fn(&str) -> Outcome,
{
    map_values_indexed(column, |_, v| f(v))
}

/// `map_values`, telling `f` the row of each value.
pub fn map_values_indexed<F>(column: &StringChunked, mut f: F) -> TransformOutput
where
    F: FnMut(usize, &str) -> Outcome,
{
    let mut failures = Vec::new();
    let mut notes = Vec::new();
    let values: StringChunked = column
        .iter()
        .enumerate()
        .map(|(row, v)| {
            let v = v?;
            match f(row, v) {
                Outcome::Value(s) => Some(s),
                Outcome::Null => None,
                Outcome::NullNoted(code) => {
                    notes.push(TransformNote { row, code, example: v.to_string() });
                    None
                }
                Outcome::ValueNoted(s, code) => {
                    notes.push(TransformNote { row, code, example: v.to_string() });
                    Some(s)
                }
                Outcome::Failed(reason, message) => {
                    failures.push(TransformFailure { row, reason, message });
                    None
                }
            }
        })
        .collect();
    TransformOutput { values: values.with_name(column.name().clone()), failures, notes }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transforms_keep_nulls_and_the_column_name() {
        let column = StringChunked::new("Email".into(), &[Some("  A@B.COM "), None]);
        let out = Transform::Trim.apply(&column);
        let out = Transform::Lowercase.apply(&out.values);
        assert!(out.failures.is_empty());
        assert_eq!(out.values.name().as_str(), "Email");
        assert_eq!(out.values.get(0), Some("a@b.com"));
        assert_eq!(out.values.get(1), None);
    }

    #[test]
    fn failures_and_notes_carry_their_row() {
        let column = StringChunked::new("d".into(), &[Some("2020-01-02"), Some("nope"), Some("0000-00-00"), None]);
        let spec = DateSpec { output: DateOutput::Date, ..DateSpec::default() };
        let out = Transform::Date(Box::new(spec)).apply(&column);
        assert_eq!(out.values.get(0), Some("2020-01-02"));
        assert_eq!(out.values.get(1), None);
        assert_eq!(out.failures.len(), 1);
        assert_eq!(out.failures[0].row, 1);
        assert_eq!(out.failures[0].reason, RejectReason::InvalidDate);
        assert_eq!(
            out.notes,
            vec![TransformNote { row: 2, code: "sentinel_date_nulled", example: "0000-00-00".into() }]
        );
    }

    #[test]
    fn truncate_counts_what_it_cuts_and_respects_characters() {
        let cases = [
            ("abc", 5, Outcome::Value("abc".into())),
            ("abcdef", 3, Outcome::ValueNoted("abc".into(), "truncated")),
            ("żółwie", 3, Outcome::ValueNoted("żół".into(), "truncated")),
            ("", 0, Outcome::Value("".into())),
        ];
        for (input, max, expected) in cases {
            assert_eq!(truncate(input, max), expected, "{input}");
        }
    }

    #[test]
    fn every_name_is_listed() {
        let all = [
            Transform::Trim,
            Transform::Lowercase,
            Transform::Uppercase,
            Transform::CollapseSpaces,
            Transform::NullIf(vec![]),
            Transform::Date(Box::default()),
            Transform::Money(MoneySpec::default()),
            Transform::Email(EmailSpec::default()),
            Transform::Phone(PhoneSpec::default()),
            Transform::Boolean(BooleanSpec::default()),
            Transform::Map(ValueMap::default()),
            Transform::Name(NameSpec::default()),
            Transform::Truncate(1),
            Transform::Json,
            Transform::Join(", ".into()),
            Transform::StripPrefix(vec!["x".into()]),
            Transform::StripSuffix(vec!["x".into()]),
            Transform::Split(",".into()),
            Transform::Number(Locale::En),
            Transform::Duration(DurationOutput::Seconds),
        ];
        assert_eq!(all.len(), Transform::NAMES.len());
        for t in all {
            assert!(Transform::NAMES.contains(&t.name()), "{}", t.name());
        }
    }
}
