//! Amounts converted into the org's currency with a rates table, at the
//! rate of the row's date. The original amount, currency, rate and rate
//! date are kept next to the converted amount.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};

use super::date::DateFormat;
use super::money::split_money;
use super::{Outcome, TransformFailure};
use crate::reject::RejectReason;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversion {
    /// The org's currency.
    pub to: String,
    /// The source (`[sources.NAME]`) holding `date,currency,rate` rows: one
    /// unit of `currency` is `rate` units of `to` on `date`.
    pub rates_source: String,
    /// The source column holding each row's date.
    pub date_column: String,
    pub date_formats: Vec<DateFormat>,
    /// Loaded from `rates_source` before the run.
    pub rates: Option<Arc<RatesTable>>,
}

/// Rates by currency, each list sorted by date.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RatesTable {
    by_currency: HashMap<String, Vec<(NaiveDate, Decimal)>>,
}

impl RatesTable {
    /// Adds one rate; `line` names where it came from in errors.
    pub fn add(&mut self, date: &str, currency: &str, rate: &str) -> Result<(), String> {
        let date = NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d")
            .map_err(|_| format!("date {date:?} is not YYYY-MM-DD"))?;
        let rate = Decimal::from_str(rate.trim()).map_err(|_| format!("rate {rate:?} is not a decimal number"))?;
        if rate <= Decimal::ZERO {
            return Err(format!("rate {rate} is not positive"));
        }
        let list = self.by_currency.entry(currency.trim().to_uppercase()).or_default();
        let at = list.partition_point(|(d, _)| *d < date);
        if list.get(at).is_some_and(|(d, _)| *d == date) {
            return Err(format!("a second rate for {currency} on {date}"));
        }
        list.insert(at, (date, rate));
        Ok(())
    }

    /// The rate in force on `date`: that day's, or the latest before it.
    pub fn rate_on(&self, currency: &str, date: NaiveDate) -> Option<(NaiveDate, Decimal)> {
        let list = self.by_currency.get(currency)?;
        let at = list.partition_point(|(d, _)| *d <= date);
        at.checked_sub(1).and_then(|i| list.get(i)).copied()
    }
}

/// Converts one canonical `AMOUNT CODE` value. The result is
/// `AMOUNT TO ORIGINAL_AMOUNT ORIGINAL_CODE RATE RATE_DATE` (or the value
/// unchanged when it is already in `to`).
pub fn convert_value(value: &str, row_date: Option<&str>, conversion: &Conversion) -> Outcome {
    let Some((amount, code)) = split_money(value) else { return Outcome::Value(value.to_string()) };
    if code == conversion.to {
        return Outcome::Value(value.to_string());
    }
    let Some(rates) = &conversion.rates else {
        return Outcome::Failed(
            RejectReason::NoRate,
            format!("the rates of {} were not loaded", conversion.rates_source),
        );
    };
    let Some(raw_date) = row_date.map(str::trim).filter(|d| !d.is_empty()) else {
        return Outcome::Failed(
            RejectReason::NoRate,
            format!("{} is empty: no date to take a rate from", conversion.date_column),
        );
    };
    let date = conversion.date_formats.iter().find_map(|f| match f {
        DateFormat::Pattern(p) => NaiveDate::parse_from_str(raw_date, p)
            .ok()
            .or_else(|| chrono::NaiveDateTime::parse_from_str(raw_date, p).ok().map(|t| t.date())),
        _ => None,
    });
    let Some(date) = date else {
        return Outcome::Failed(
            RejectReason::InvalidDate,
            format!("{raw_date:?} in {} is not a date", conversion.date_column),
        );
    };
    let Some((rate_date, rate)) = rates.rate_on(code, date) else {
        return Outcome::Failed(
            RejectReason::NoRate,
            format!("no {code}→{} rate on or before {date} in {}", conversion.to, conversion.rates_source),
        );
    };
    let Ok(original) = Decimal::from_str(amount) else {
        return Outcome::Failed(RejectReason::InvalidAmount, format!("{amount:?} is not an amount"));
    };
    let Some(converted) = original.checked_mul(rate) else {
        return Outcome::Failed(RejectReason::InvalidAmount, format!("{amount} × {rate} overflows"));
    };
    let converted = converted.round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven);
    Outcome::Value(format!("{converted} {} {amount} {code} {rate} {rate_date}", conversion.to))
}

/// Converts a column of amounts, taking each row's date from `dates`.
pub fn convert_column(
    values: &polars::prelude::StringChunked,
    dates: &polars::prelude::StringChunked,
    conversion: &Conversion,
) -> (polars::prelude::StringChunked, Vec<TransformFailure>) {
    let mut failures = Vec::new();
    let out: polars::prelude::StringChunked = values
        .iter()
        .enumerate()
        .map(|(row, v)| match convert_value(v?, dates.get(row), conversion) {
            Outcome::Value(s) | Outcome::ValueNoted(s, _) => Some(s),
            Outcome::Failed(reason, message) => {
                failures.push(TransformFailure { row, reason, message });
                None
            }
            Outcome::Null | Outcome::NullNoted(_) => None,
        })
        .collect();
    (out.with_name(values.name().clone()), failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversion() -> Conversion {
        let mut rates = RatesTable::default();
        rates.add("2024-01-31", "EUR", "1.0850").unwrap();
        rates.add("2024-01-02", "EUR", "1.0950").unwrap();
        rates.add("2024-01-31", "gbp", "1.27").unwrap();
        Conversion {
            to: "USD".into(),
            rates_source: "fx".into(),
            date_column: "Invoiced".into(),
            date_formats: vec![DateFormat::Pattern("%m/%d/%Y".into())],
            rates: Some(Arc::new(rates)),
        }
    }

    #[test]
    fn conversion_cases() {
        let c = conversion();
        let cases = [
            ("1000.00 EUR", Some("01/31/2024"), Outcome::Value("1085.00 USD 1000.00 EUR 1.0850 2024-01-31".into())),
            // The latest rate on or before the row's date.
            ("1000.00 EUR", Some("01/15/2024"), Outcome::Value("1095.00 USD 1000.00 EUR 1.0950 2024-01-02".into())),
            // Rounded half to even, to cents.
            ("0.10 GBP", Some("02/01/2024"), Outcome::Value("0.13 USD 0.10 GBP 1.27 2024-01-31".into())),
            ("12.345 USD", Some("01/31/2024"), Outcome::Value("12.345 USD".into())),
        ];
        for (value, date, expected) in cases {
            assert_eq!(convert_value(value, date, &c), expected, "{value} on {date:?}");
        }
        let failures = [
            ("5 EUR", Some("01/01/2024"), RejectReason::NoRate),
            ("5 CHF", Some("01/31/2024"), RejectReason::NoRate),
            ("5 EUR", None, RejectReason::NoRate),
            ("5 EUR", Some("2024-01-31"), RejectReason::InvalidDate),
        ];
        for (value, date, reason) in failures {
            assert!(matches!(convert_value(value, date, &c), Outcome::Failed(r, _) if r == reason), "{value} {date:?}");
        }
    }

    #[test]
    fn rates_tables_refuse_bad_rows() {
        let mut t = RatesTable::default();
        assert!(t.add("2024-13-01", "EUR", "1").unwrap_err().contains("not YYYY-MM-DD"));
        assert!(t.add("2024-01-01", "EUR", "abc").unwrap_err().contains("not a decimal"));
        assert!(t.add("2024-01-01", "EUR", "-1").unwrap_err().contains("not positive"));
        t.add("2024-01-01", "EUR", "1.1").unwrap();
        assert!(t.add("2024-01-01", "EUR", "1.2").unwrap_err().contains("a second rate"));
    }
}
