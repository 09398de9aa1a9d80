//! tiberius's values as exact text. Temporal values are computed from
//! their wire form (days and ticks), never through a clock library's
//! rounding; decimals from their unscaled integer.

use chrono::{Duration, NaiveDate};
use tiberius::ColumnData;

/// A value's text, and a note code when the text had to lose something.
pub(crate) type Text = (String, Option<&'static str>);

/// The note for a datetime2/time/datetimeoffset 7th fractional digit that
/// PostgreSQL (microseconds) cannot hold.
pub(crate) const FRACTION_TRUNCATED: &str = "fraction_truncated";

pub(crate) fn text(value: ColumnData<'static>) -> Option<Text> {
    let plain = |s: String| Some((s, None));
    match value {
        ColumnData::U8(v) => v.and_then(|v| plain(v.to_string())),
        ColumnData::I16(v) => v.and_then(|v| plain(v.to_string())),
        ColumnData::I32(v) => v.and_then(|v| plain(v.to_string())),
        ColumnData::I64(v) => v.and_then(|v| plain(v.to_string())),
        ColumnData::F32(v) => v.and_then(|v| plain(v.to_string())),
        ColumnData::F64(v) => v.and_then(|v| plain(v.to_string())),
        ColumnData::Bit(v) => v.and_then(|v| plain(v.to_string())),
        ColumnData::String(v) => v.and_then(|v| plain(v.into_owned())),
        ColumnData::Guid(v) => v.and_then(|v| plain(v.hyphenated().to_string())),
        ColumnData::Binary(v) => v.and_then(|v| plain(format!("\\x{}", hex::encode(v.as_ref())))),
        ColumnData::Numeric(v) => v.and_then(|n| plain(decimal(n.value(), n.scale()))),
        ColumnData::Xml(v) => v.and_then(|x| plain(x.as_ref().to_string())),
        ColumnData::DateTime(v) => v.and_then(|d| {
            // 1/300 s ticks, to the nearest microsecond.
            let micros = (i64::from(d.seconds_fragments()) * 10_000 + 1) / 3;
            plain(timestamp(day_1900(i64::from(d.days()))?, micros * 1_000, 6))
        }),
        ColumnData::SmallDateTime(v) => v.and_then(|d| {
            let nanos = i64::from(d.seconds_fragments()) * 60 * 1_000_000_000;
            plain(timestamp(day_1900(i64::from(d.days()))?, nanos, 0))
        }),
        ColumnData::Date(v) => v.and_then(|d| plain(day_1(d.days())?.format("%Y-%m-%d").to_string())),
        ColumnData::Time(v) => v.map(|t| {
            let (nanos, lost) = time_nanos(t.increments(), t.scale());
            (clock(nanos, 6), lost)
        }),
        ColumnData::DateTime2(v) => v.and_then(|d| {
            let (nanos, lost) = time_nanos(d.time().increments(), d.time().scale());
            Some((timestamp(day_1(d.date().days())?, nanos, 6), lost))
        }),
        ColumnData::DateTimeOffset(v) => v.and_then(|d| {
            // The wire holds UTC; the text is the local time and its offset.
            let utc = d.datetime2();
            let (nanos, lost) = time_nanos(utc.time().increments(), utc.time().scale());
            let offset = i64::from(d.offset());
            let local = day_1(utc.date().days())?.and_hms_opt(0, 0, 0)?
                + Duration::nanoseconds(nanos)
                + Duration::minutes(offset);
            let (sign, minutes) = if offset < 0 { ('-', -offset) } else { ('+', offset) };
            Some((
                format!("{}{sign}{:02}:{:02}", local.format("%Y-%m-%d %H:%M:%S%.6f"), minutes / 60, minutes % 60),
                lost,
            ))
        }),
    }
}

/// An unscaled integer and its scale as decimal text.
pub(crate) fn decimal(value: i128, scale: u8) -> String {
    let digits = value.unsigned_abs().to_string();
    let scale = usize::from(scale);
    let sign = if value < 0 { "-" } else { "" };
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = padded.split_at(padded.len() - scale);
    format!("{sign}{whole}.{fraction}")
}

fn day_1900(days: i64) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(1900, 1, 1)?.checked_add_signed(Duration::days(days))
}

fn day_1(days: u32) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(i32::try_from(days).ok()? + 1)
}

/// Nanoseconds since midnight from `increments` of 10^-scale s, cut to
/// microseconds; the note when a nonzero 7th digit was cut.
fn time_nanos(increments: u64, scale: u8) -> (i64, Option<&'static str>) {
    let per = 10u64.pow(9u32.saturating_sub(u32::from(scale)));
    let nanos = increments.saturating_mul(per);
    let lost = (nanos % 1_000 != 0).then_some(FRACTION_TRUNCATED);
    (i64::try_from(nanos - nanos % 1_000).unwrap_or(i64::MAX), lost)
}

fn clock(nanos: i64, digits: usize) -> String {
    let seconds = nanos / 1_000_000_000;
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    let mut out = format!("{h:02}:{m:02}:{s:02}");
    if digits > 0 {
        let micros = (nanos % 1_000_000_000) / 1_000;
        out.push_str(&format!(".{micros:06}"));
    }
    out
}

fn timestamp(day: NaiveDate, nanos: i64, digits: usize) -> String {
    format!("{} {}", day.format("%Y-%m-%d"), clock(nanos, digits))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_keep_every_digit() {
        assert_eq!(decimal(123_456_789, 4), "12345.6789");
        assert_eq!(decimal(-5, 4), "-0.0005");
        assert_eq!(decimal(0, 2), "0.00");
        assert_eq!(decimal(i128::MAX, 0), i128::MAX.to_string());
        assert_eq!(decimal(-99_999_999_999_999_999_999_999_999_999_999_999_999, 38).len(), 41);
    }

    #[test]
    fn time_fractions_cut_to_microseconds() {
        assert_eq!(time_nanos(1_234_567, 7), (123_456_000, Some(FRACTION_TRUNCATED)));
        assert_eq!(time_nanos(1_234_560, 7), (123_456_000, None));
        assert_eq!(clock(86_399_999_999_000, 6), "23:59:59.999999");
        assert_eq!(day_1(0).map(|d| d.to_string()), Some("0001-01-01".into()));
        assert_eq!(day_1900(-1).map(|d| d.to_string()), Some("1899-12-31".into()));
    }
}
