//! Legacy dates and times → `date` or UTC `timestamptz`, exactly, or a
//! reject that names the value and every format tried.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::rc::Rc;

use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;

use super::Outcome;
use crate::reject::RejectReason;

/// How one format is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DateFormat {
    /// A strftime pattern (`%m/%d/%Y %H:%M`).
    Pattern(String),
    /// Days since 1899-12-30, the fraction being the time of day.
    ExcelSerial,
    /// Seconds since 1970-01-01 UTC.
    UnixSeconds,
    /// Milliseconds since 1970-01-01 UTC.
    UnixMillis,
}

/// What the value becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateOutput {
    Date,
    Timestamp,
}

/// The day order of numeric dates, for presets and for inference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayOrder {
    Mdy,
    Dmy,
    Ymd,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DateSpec {
    /// Tried in order; the first that reads the whole value wins.
    pub formats: Vec<DateFormat>,
    /// `order = "auto"`: the formats are chosen from the data before the
    /// run (see `infer`); until then `formats` is empty.
    pub infer_order: bool,
    /// The zone local times are in; timestamps are stored in UTC.
    pub timezone: Tz,
    /// A source column naming each row's zone (IANA); empty means
    /// `timezone`.
    pub timezone_column: Option<String>,
    pub output: DateOutput,
    /// Texts that mean "no date" (compared after trimming).
    pub sentinels: Vec<String>,
    /// Dates that mean "no date" when they carry no time of day.
    pub sentinel_dates: Vec<NaiveDate>,
    /// Two-digit years below the pivot are 20xx, the others 19xx.
    pub pivot: u32,
    /// Dates outside [min, max] are rejected.
    pub min: NaiveDate,
    pub max: NaiveDate,
    /// `zone_abbreviations = { CST = "America/Chicago" }`: what a trailing
    /// abbreviation means, for the ambiguous ones (and over the built-in
    /// meaning of any other).
    pub zone_abbreviations: Vec<(String, Tz)>,
}

/// Abbreviations a trailing word of a date may be, each one fixed offset
/// from UTC (minutes) whatever the date: `EST` is −05:00 in July too.
pub const ZONE_ABBREVIATIONS: &[(&str, i32, &str)] = &[
    ("UTC", 0, "Coordinated Universal Time"),
    ("GMT", 0, "Greenwich Mean Time"),
    ("WET", 0, "Western European Time"),
    ("WEST", 60, "Western European Summer Time"),
    ("CET", 60, "Central European Time"),
    ("MET", 60, "Middle European Time"),
    ("CEST", 120, "Central European Summer Time"),
    ("MEST", 120, "Middle European Summer Time"),
    ("EET", 120, "Eastern European Time"),
    ("EEST", 180, "Eastern European Summer Time"),
    ("MSK", 180, "Moscow Time"),
    ("HKT", 480, "Hong Kong Time"),
    ("SGT", 480, "Singapore Time"),
    ("AWST", 480, "Australian Western Standard Time"),
    ("JST", 540, "Japan Standard Time"),
    ("KST", 540, "Korea Standard Time"),
    ("ACST", 570, "Australian Central Standard Time"),
    ("ACDT", 630, "Australian Central Daylight Time"),
    ("AEST", 600, "Australian Eastern Standard Time"),
    ("AEDT", 660, "Australian Eastern Daylight Time"),
    ("NZST", 720, "New Zealand Standard Time"),
    ("NZDT", 780, "New Zealand Daylight Time"),
    ("NST", -210, "Newfoundland Standard Time"),
    ("NDT", -150, "Newfoundland Daylight Time"),
    ("ADT", -180, "Atlantic Daylight Time"),
    ("EST", -300, "Eastern Standard Time (North America)"),
    ("EDT", -240, "Eastern Daylight Time (North America)"),
    ("CDT", -300, "Central Daylight Time (North America)"),
    ("MST", -420, "Mountain Standard Time (North America)"),
    ("MDT", -360, "Mountain Daylight Time (North America)"),
    ("PST", -480, "Pacific Standard Time (North America)"),
    ("PDT", -420, "Pacific Daylight Time (North America)"),
    ("AKST", -540, "Alaska Standard Time"),
    ("AKDT", -480, "Alaska Daylight Time"),
    ("HST", -600, "Hawaii Standard Time"),
];

/// Abbreviations that name more than one offset: refused until the
/// mapping's `zone_abbreviations` says which zone is meant.
pub const AMBIGUOUS_ABBREVIATIONS: &[(&str, &str)] = &[
    ("CST", "US Central −06:00, China +08:00 or Cuba −05:00"),
    ("IST", "India +05:30, Ireland +01:00 or Israel +02:00"),
    ("BST", "British Summer Time +01:00 or Bangladesh +06:00"),
    ("AST", "Atlantic −04:00 or Arabia +03:00"),
];

/// Where a wall-clock time is: the spec's zone, a fixed offset (seconds
/// east of UTC), or a zone a trailing abbreviation named.
#[derive(Clone, Copy)]
enum Zone {
    Spec,
    Fixed(i64),
    Named(Tz),
}

/// A value's trailing zone abbreviation (`10:00 EST`), split off, with what
/// it means; `Err` for an ambiguous one the mapping did not settle.
fn abbreviation<'v>(value: &'v str, spec: &DateSpec) -> Option<Result<(&'v str, Zone), String>> {
    let (rest, word) = value.rsplit_once(' ')?;
    if !(2..=5).contains(&word.len()) || !word.bytes().all(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let rest = rest.trim_end();
    if let Some((_, tz)) = spec.zone_abbreviations.iter().find(|(a, _)| a == word) {
        return Some(Ok((rest, Zone::Named(*tz))));
    }
    if let Some((_, minutes, _)) = ZONE_ABBREVIATIONS.iter().find(|(a, _, _)| *a == word) {
        return Some(Ok((rest, Zone::Fixed(i64::from(*minutes) * 60))));
    }
    let (_, meanings) = AMBIGUOUS_ABBREVIATIONS.iter().find(|(a, _)| *a == word)?;
    Some(Err(format!(
        "{value:?}: {word} is ambiguous ({meanings}); say which zone it means with \
         zone_abbreviations = {{ {word} = \"America/Chicago\" }} (an IANA zone)"
    )))
}

/// Legacy systems' ways of writing "no date".
pub const DEFAULT_SENTINELS: &[&str] =
    &["0000-00-00", "0000-00-00 00:00:00", "00/00/0000", "1899-12-30", "1900-01-01", "0001-01-01"];

pub const PRESETS: &[&str] = &["iso", "us", "eu", "excel_serial", "unix_s", "unix_ms"];

const ISO: &[&str] = &[
    "%Y-%m-%d",
    "%Y-%m-%dT%H:%M:%S%.f%:z",
    "%Y-%m-%dT%H:%M:%S%.fZ",
    "%Y-%m-%d %H:%M:%S%.f%:z",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
];
const US: &[&str] = &[
    "%m/%d/%Y",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %I:%M:%S %p",
    "%m-%d-%Y",
    "%m/%d/%y",
    "%m/%d/%y %H:%M",
];
const EU: &[&str] = &[
    "%d/%m/%Y",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d.%m.%Y",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%d-%m-%Y",
    "%d/%m/%y",
    "%d.%m.%y",
];

impl DateFormat {
    /// The formats a preset name stands for.
    pub fn preset(name: &str) -> Option<Vec<DateFormat>> {
        let patterns = |p: &[&str]| p.iter().map(|s| DateFormat::Pattern(s.to_string())).collect();
        match name {
            "iso" => Some(patterns(ISO)),
            "us" => Some(patterns(US)),
            "eu" => Some(patterns(EU)),
            "excel_serial" => Some(vec![DateFormat::ExcelSerial]),
            "unix_s" => Some(vec![DateFormat::UnixSeconds]),
            "unix_ms" => Some(vec![DateFormat::UnixMillis]),
            _ => None,
        }
    }

    pub fn for_order(order: DayOrder) -> Vec<DateFormat> {
        let preset = match order {
            DayOrder::Mdy => "us",
            DayOrder::Dmy => "eu",
            DayOrder::Ymd => "iso",
        };
        Self::preset(preset).unwrap_or_default()
    }

    fn describe(&self) -> &str {
        match self {
            DateFormat::Pattern(p) => p,
            DateFormat::ExcelSerial => "excel_serial",
            DateFormat::UnixSeconds => "unix_s",
            DateFormat::UnixMillis => "unix_ms",
        }
    }
}

impl Default for DateSpec {
    fn default() -> Self {
        Self {
            formats: DateFormat::preset("iso").unwrap_or_default(),
            infer_order: false,
            timezone: Tz::UTC,
            timezone_column: None,
            output: DateOutput::Timestamp,
            sentinels: DEFAULT_SENTINELS.iter().map(|s| s.to_string()).collect(),
            sentinel_dates: default_sentinel_dates(),
            pivot: 50,
            min: NaiveDate::MIN.max(NaiveDate::from_ymd_opt(1, 1, 1).unwrap_or(NaiveDate::MIN)),
            max: NaiveDate::from_ymd_opt(9999, 12, 31).unwrap_or(NaiveDate::MAX),
            zone_abbreviations: Vec::new(),
        }
    }
}

fn default_sentinel_dates() -> Vec<NaiveDate> {
    [(1899, 12, 30), (1900, 1, 1), (1, 1, 1)].iter().filter_map(|&(y, m, d)| NaiveDate::from_ymd_opt(y, m, d)).collect()
}

/// `%Y-%m-%d`, written directly for years 0–9999 (chrono's `format`
/// parses its pattern for every value).
fn iso_date(date: NaiveDate) -> String {
    if !(0..=9999).contains(&date.year()) {
        return date.format("%Y-%m-%d").to_string();
    }
    let mut out = String::with_capacity(10);
    let _ = write!(out, "{:04}-{:02}-{:02}", date.year(), date.month(), date.day());
    out
}

/// `%Y-%m-%d %H:%M:%S%.6f+00`, written directly for years 0–9999 (a leap
/// second, and other years, go through chrono).
fn iso_timestamp(instant: &DateTime<Utc>) -> String {
    let nanos = instant.nanosecond();
    if !(0..=9999).contains(&instant.year()) || nanos >= 1_000_000_000 {
        return instant.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string();
    }
    let mut out = String::with_capacity(29);
    let _ = write!(
        out,
        "{} {:02}:{:02}:{:02}.{:06}+00",
        iso_date(instant.date_naive()),
        instant.hour(),
        instant.minute(),
        instant.second(),
        nanos / 1000
    );
    out
}

/// A value read, before it is written out.
enum Read {
    /// A wall-clock time in the spec's zone (a bare date is midnight).
    Local(NaiveDateTime),
    /// An absolute instant (an offset was given, or an epoch count).
    Instant(DateTime<Utc>),
}

fn has_time(pattern: &str) -> bool {
    ["%H", "%I", "%M", "%S", "%T", "%R", "%p", "%k", "%l"].iter().any(|t| pattern.contains(t))
}

fn has_offset(pattern: &str) -> bool {
    pattern.contains("%z") || pattern.contains("%:z") || pattern.ends_with('Z')
}

/// chrono's `%Y` also reads `49` as the year 49: a four-digit year must be
/// written with four digits, so `03/06/49` falls through to a `%y` format.
fn has_four_digit_run(value: &str) -> bool {
    let mut run = 0;
    value.chars().any(|c| {
        run = if c.is_ascii_digit() { run + 1 } else { 0 };
        run >= 4
    })
}

thread_local! {
    /// strftime patterns, parsed once per thread: chrono's `parse_from_str`
    /// parses its pattern again for every value it reads (8.5% of a run's
    /// CPU in a profile of US dates with four formats tried).
    static COMPILED: RefCell<HashMap<String, Rc<[Item<'static>]>>> = RefCell::default();
}

/// What `value` holds by `pattern`, as chrono's `parse_from_str` reads it
/// (the same parser, with the pattern parsed once).
fn parse_by(value: &str, pattern: &str) -> Option<Parsed> {
    let items = COMPILED.with(|cache| {
        if let Some(items) = cache.borrow().get(pattern) {
            return Some(items.clone());
        }
        let items: Rc<[Item<'static>]> = StrftimeItems::new(pattern).parse_to_owned().ok()?.into();
        cache.borrow_mut().insert(pattern.to_string(), items.clone());
        Some(items)
    })?;
    let mut parsed = Parsed::new();
    chrono::format::parse(&mut parsed, value, items.iter()).ok()?;
    Some(parsed)
}

fn read_pattern(value: &str, pattern: &str, pivot: u32) -> Option<Read> {
    if pattern.contains("%Y") && !has_four_digit_run(value) {
        return None;
    }
    let parsed = parse_by(value, pattern)?;
    let read = if has_offset(pattern) {
        let instant = if pattern.ends_with('Z') {
            parsed.to_naive_datetime_with_offset(0).ok().map(|n| n.and_utc())
        } else {
            parsed.to_datetime().ok().map(|d| d.with_timezone(&Utc))
        };
        Read::Instant(instant?)
    } else if has_time(pattern) {
        Read::Local(parsed.to_naive_datetime_with_offset(0).ok()?)
    } else {
        Read::Local(parsed.to_naive_date().ok()?.and_time(NaiveTime::MIN))
    };
    if !pattern.contains("%y") {
        return Some(read);
    }
    // chrono reads %y as 1970–2069; the mapping's pivot decides instead.
    let century = |year: i32| {
        let yy = year.rem_euclid(100);
        if (yy as u32) < pivot { 2000 + yy } else { 1900 + yy }
    };
    match read {
        Read::Local(n) => n.with_year(century(n.year())).map(Read::Local),
        Read::Instant(d) => d.with_year(century(d.year())).map(Read::Instant),
    }
}

fn read_number(value: &str, format: &DateFormat) -> Option<Read> {
    match format {
        DateFormat::ExcelSerial => {
            // Not money: a float is exact enough for a fraction of a day.
            let serial: f64 = value.parse().ok()?;
            if !(1.0..2_958_466.0).contains(&serial) {
                return None;
            }
            let days = serial.trunc() as i64;
            let seconds = ((serial - serial.trunc()) * 86_400.0).round() as i64;
            let base = NaiveDate::from_ymd_opt(1899, 12, 30)?.and_time(NaiveTime::MIN);
            Some(Read::Local(base + Duration::days(days) + Duration::seconds(seconds)))
        }
        DateFormat::UnixSeconds => {
            let secs: i64 = value.parse().ok()?;
            Some(Read::Instant(DateTime::from_timestamp(secs, 0)?))
        }
        DateFormat::UnixMillis => {
            let ms: i64 = value.parse().ok()?;
            Some(Read::Instant(DateTime::from_timestamp_millis(ms)?))
        }
        DateFormat::Pattern(_) => None,
    }
}

/// Notes a parse may leave (counted per column in the report).
pub const NOTE_SENTINEL: &str = "sentinel_date_nulled";
pub const NOTE_DST_GAP: &str = "dst_gap_shifted";
pub const NOTE_DST_OVERLAP: &str = "dst_overlap_earliest";

/// Reads one value.
pub fn parse_date(raw: &str, spec: &DateSpec) -> Outcome {
    let value = raw.trim();
    if value.is_empty() {
        return Outcome::Null;
    }
    if spec.sentinels.iter().any(|s| s == value) {
        return Outcome::NullNoted(NOTE_SENTINEL);
    }
    let (value, zone) = match abbreviation(value, spec) {
        Some(Ok((rest, zone))) => (rest, zone),
        Some(Err(message)) => return Outcome::Failed(RejectReason::InvalidDate, message),
        None => (value, Zone::Spec),
    };
    let read = spec.formats.iter().find_map(|f| match f {
        DateFormat::Pattern(p) => read_pattern(value, p, spec.pivot),
        other => read_number(value, other),
    });
    let Some(read) = read else {
        let tried: Vec<&str> = spec.formats.iter().map(DateFormat::describe).collect();
        // `255:10:10` is an elapsed time (a spreadsheet's [h]:mm:ss cell).
        let hint = if super::duration_millis(value).is_some()
            && value.contains(':')
            && !value.contains(['-', '/', '.', ' '])
        {
            " (it reads as a duration: use the duration transform)"
        } else {
            ""
        };
        return Outcome::Failed(
            RejectReason::InvalidDate,
            format!("{value:?} matches none of the formats tried: {}{hint}", tried.join(", ")),
        );
    };
    let mut note = None;
    let (tz, fixed) = match zone {
        Zone::Named(tz) => (tz, None),
        Zone::Fixed(offset) => (spec.timezone, Some(offset)),
        Zone::Spec => (spec.timezone, None),
    };
    let instant = match read {
        Read::Instant(_) if !matches!(zone, Zone::Spec) => {
            return Outcome::Failed(
                RejectReason::InvalidDate,
                format!("{raw:?} has both an offset and a zone abbreviation", raw = raw.trim()),
            );
        }
        Read::Instant(i) => i,
        Read::Local(naive) if fixed.is_some() => {
            if spec.output == DateOutput::Date {
                return in_range(naive.date(), spec).map_or_else(
                    || Outcome::Value(iso_date(naive.date())),
                    |message| Outcome::Failed(RejectReason::DateOutOfRange, format!("{value:?}: {message}")),
                );
            }
            (naive - Duration::seconds(fixed.unwrap_or(0))).and_utc()
        }
        Read::Local(naive) => {
            // Midnight of a sentinel date (SQL Server's 1900-01-01 00:00:00).
            if naive.time() == NaiveTime::MIN && spec.sentinel_dates.contains(&naive.date()) {
                return Outcome::NullNoted(NOTE_SENTINEL);
            }
            if spec.output == DateOutput::Date {
                return in_range(naive.date(), spec).map_or_else(
                    || Outcome::Value(iso_date(naive.date())),
                    |message| Outcome::Failed(RejectReason::DateOutOfRange, format!("{value:?}: {message}")),
                );
            }
            match tz.from_local_datetime(&naive) {
                LocalResult::Single(t) => t.with_timezone(&Utc),
                LocalResult::Ambiguous(earliest, _) => {
                    note = Some(NOTE_DST_OVERLAP);
                    earliest.with_timezone(&Utc)
                }
                LocalResult::None => {
                    // A wall-clock time the clocks skipped: read it with the
                    // offset in force before the gap, as PostgreSQL does
                    // (02:30 on a 02:00→03:00 night is 03:30 after).
                    let before = tz.from_local_datetime(&(naive - Duration::hours(6))).earliest();
                    let Some(before) = before else {
                        return Outcome::Failed(
                            RejectReason::InvalidDate,
                            format!("{value:?} does not exist in {}", tz.name()),
                        );
                    };
                    note = Some(NOTE_DST_GAP);
                    let offset = i64::from(before.offset().fix().local_minus_utc());
                    (naive - Duration::seconds(offset)).and_utc()
                }
            }
        }
    };
    let date = match spec.output {
        DateOutput::Date => instant.with_timezone(&spec.timezone).date_naive(),
        DateOutput::Timestamp => instant.date_naive(),
    };
    if let Some(message) = in_range(date, spec) {
        return Outcome::Failed(RejectReason::DateOutOfRange, format!("{value:?}: {message}"));
    }
    let text = match spec.output {
        DateOutput::Date => iso_date(date),
        DateOutput::Timestamp => iso_timestamp(&instant),
    };
    match note {
        Some(code) => Outcome::ValueNoted(text, code),
        None => Outcome::Value(text),
    }
}

fn in_range(date: NaiveDate, spec: &DateSpec) -> Option<String> {
    (date < spec.min || date > spec.max).then(|| format!("{date} is outside {} to {}", spec.min, spec.max))
}

/// Reads a column of dates whose zone is given row by row in `zones`.
pub fn parse_with_zones(
    values: &polars::prelude::StringChunked,
    zones: &polars::prelude::StringChunked,
    spec: &DateSpec,
) -> super::TransformOutput {
    let mut specs: std::collections::HashMap<String, Result<DateSpec, String>> = std::collections::HashMap::new();
    super::map_values_indexed(values, |row, v| {
        let Some(zone) = zones.get(row).map(str::trim).filter(|z| !z.is_empty()).map(str::to_string) else {
            return parse_date(v, spec);
        };
        let chosen = specs.entry(zone.clone()).or_insert_with(|| match zone.parse::<Tz>() {
            Ok(tz) => Ok(DateSpec { timezone: tz, ..spec.clone() }),
            Err(_) => Err(format!("{zone:?} is not an IANA time zone")),
        });
        match chosen {
            Ok(s) => parse_date(v, s),
            Err(m) => Outcome::Failed(RejectReason::InvalidDate, m.clone()),
        }
    })
}

/// Evidence for the day order of a column of numeric dates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderEvidence {
    pub values: u64,
    /// Values whose first part is above 12 (so day first).
    pub day_first: u64,
    /// Values whose second part is above 12 (so month first).
    pub month_first: u64,
    pub day_first_example: Option<String>,
    pub month_first_example: Option<String>,
    pub ambiguous_example: Option<String>,
}

impl OrderEvidence {
    pub fn observe(&mut self, raw: &str) {
        let value = raw.trim();
        let parts: Vec<u32> = value
            .split(|c: char| !c.is_ascii_digit())
            .filter(|p| !p.is_empty())
            .take(3)
            .filter_map(|p| p.parse().ok())
            .collect();
        let (Some(&a), Some(&b)) = (parts.first(), parts.get(1)) else { return };
        // A leading four-digit year is ISO order, which says nothing.
        if a > 31 {
            return;
        }
        self.values += 1;
        if a > 12 && b <= 12 {
            self.day_first += 1;
            self.day_first_example.get_or_insert_with(|| value.to_string());
        } else if b > 12 && a <= 12 {
            self.month_first += 1;
            self.month_first_example.get_or_insert_with(|| value.to_string());
        } else if a <= 12 && b <= 12 {
            self.ambiguous_example.get_or_insert_with(|| value.to_string());
        }
    }

    /// The order the evidence proves, or why it proves none.
    pub fn decide(&self) -> Result<DayOrder, String> {
        match (self.day_first, self.month_first) {
            (0, 0) if self.values == 0 => Err("no numeric dates to decide from".to_string()),
            (0, 0) => Err(format!(
                "ambiguous: none of {} values has a part above 12 (e.g. {:?} could be either)",
                self.values,
                self.ambiguous_example.as_deref().unwrap_or("")
            )),
            (d, 0) => Ok(DayOrder::Dmy).inspect(|_| debug_assert!(d > 0)),
            (0, _) => Ok(DayOrder::Mdy),
            (d, m) => Err(format!(
                "inconsistent: {d} values are day-first (e.g. {:?}) and {m} month-first (e.g. {:?})",
                self.day_first_example.as_deref().unwrap_or(""),
                self.month_first_example.as_deref().unwrap_or("")
            )),
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "{} numeric dates: {} day-first{}, {} month-first{}",
            self.values,
            self.day_first,
            self.day_first_example.as_deref().map(|e| format!(" (e.g. {e:?})")).unwrap_or_default(),
            self.month_first,
            self.month_first_example.as_deref().map(|e| format!(" (e.g. {e:?})")).unwrap_or_default(),
        )
    }
}

#[cfg(test)]
mod tests;
