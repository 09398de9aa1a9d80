//! A cell's value as text: numbers as written, dates by their number
//! format and the workbook's date system, errors as NULL (counted).

use calamine::{Data, DataRef, ExcelDateTime};

/// What a cell holds, as the batch takes it.
#[derive(Debug, Clone, PartialEq)]
pub enum CellText {
    Value(String),
    Empty,
    /// `#N/A`, `#DIV/0!`, … : NULL, and counted.
    Error(String),
    /// A value no row can carry (the 1900-02-29 of Excel's leap-year bug):
    /// the row is rejected with this reason.
    Invalid(String),
}

/// Shortest text that reads back as the same number; whole numbers without
/// `.0` (Excel stores every number as a float).
fn number(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 { format!("{}", f as i64) } else { format!("{f}") }
}

fn date_time(d: &ExcelDateTime) -> CellText {
    let serial = d.as_f64();
    if d.is_duration() {
        let ms = (serial * 86_400_000.0).round() as i64;
        let (sign, ms) = if ms < 0 { ("-", -ms) } else { ("", ms) };
        let secs = ms / 1000;
        let mut text = format!("{sign}{}:{:02}:{:02}", secs / 3600, (secs % 3600) / 60, secs % 60);
        if ms % 1000 != 0 {
            text.push_str(&format!(".{:03}", ms % 1000));
        }
        return CellText::Value(text);
    }
    // calamine's own conversion maps serials 59 and 60 to the same day;
    // its components keep Excel's 1900-02-29, which we refuse below.
    let (y, mo, day, h, mi, s, ms) = d.to_ymd_hms_milli();
    let time = if ms == 0 { format!("{h:02}:{mi:02}:{s:02}") } else { format!("{h:02}:{mi:02}:{s:02}.{ms:03}") };
    if (0.0..1.0).contains(&serial) {
        // Serial 0.x: a time of day with no date.
        return CellText::Value(time);
    }
    if (y, mo, day) == (1900, 2, 29) {
        return CellText::Invalid(format!(
            "serial {serial} is 1900-02-29, a day that does not exist (Excel counts 1900 as a leap year)"
        ));
    }
    if (h, mi, s, ms) == (0, 0, 0, 0) {
        CellText::Value(format!("{y:04}-{mo:02}-{day:02}"))
    } else {
        CellText::Value(format!("{y:04}-{mo:02}-{day:02} {time}"))
    }
}

pub fn from_ref(value: &DataRef<'_>) -> CellText {
    match value {
        DataRef::Int(i) => CellText::Value(i.to_string()),
        DataRef::Float(f) => CellText::Value(number(*f)),
        DataRef::String(s) => CellText::Value(s.clone()),
        DataRef::SharedString(s) => CellText::Value(s.to_string()),
        DataRef::Bool(b) => CellText::Value(b.to_string()),
        DataRef::DateTime(d) => date_time(d),
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => CellText::Value(s.clone()),
        DataRef::Error(e) => CellText::Error(e.to_string()),
        DataRef::Empty => CellText::Empty,
    }
}

/// The error literals a spreadsheet shows for a failed formula. ODS files
/// written by LibreOffice keep them as the cell's string value.
const ERROR_LITERALS: &[&str] = &["#DIV/0!", "#N/A", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#NULL!"];

/// `2024-01-31T14:05:09` → `2024-01-31 14:05:09`, as xlsx dates read.
fn iso_date_time(s: &str) -> String {
    match s.split_once('T') {
        Some((date, "00:00:00")) => date.to_string(),
        Some((date, time)) => format!("{date} {time}"),
        None => s.to_string(),
    }
}

/// `PT09H30M00S` → `09:30:00` (ODS stores times of day as durations).
fn iso_duration(s: &str) -> String {
    let parse = || -> Option<String> {
        let rest = s.strip_prefix("PT")?;
        let (h, rest) = rest.split_once('H')?;
        let (m, rest) = rest.split_once('M')?;
        let secs = rest.strip_suffix('S')?;
        let secs: f64 = secs.parse().ok()?;
        Some(format!("{:02}:{:02}:{:02}", h.parse::<u32>().ok()?, m.parse::<u32>().ok()?, secs.round() as u32))
    };
    parse().unwrap_or_else(|| s.to_string())
}

/// `ods`: the workbook is an OpenDocument file, whose error cells arrive
/// as their literal text.
pub fn from_data(value: &Data, ods: bool) -> CellText {
    match value {
        Data::Int(i) => CellText::Value(i.to_string()),
        Data::Float(f) => CellText::Value(number(*f)),
        Data::String(s) if ods && ERROR_LITERALS.contains(&s.as_str()) => CellText::Error(s.clone()),
        Data::String(s) => CellText::Value(s.clone()),
        Data::Bool(b) => CellText::Value(b.to_string()),
        Data::DateTime(d) => date_time(d),
        Data::DateTimeIso(s) => CellText::Value(iso_date_time(s)),
        Data::DurationIso(s) => CellText::Value(iso_duration(s)),
        Data::Error(e) => CellText::Error(e.to_string()),
        Data::Empty => CellText::Empty,
    }
}

/// `A`, `B`, … `Z`, `AA` for a 0-based column index.
pub fn column_letters(mut index: u32) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'A' + (index % 26) as u8);
        if index < 26 {
            break;
        }
        index = index / 26 - 1;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_letters_cases() {
        for (i, expected) in
            [(0, "A"), (25, "Z"), (26, "AA"), (51, "AZ"), (52, "BA"), (701, "ZZ"), (702, "AAA"), (16383, "XFD")]
        {
            assert_eq!(column_letters(i), expected);
        }
    }

    #[test]
    fn opendocument_forms_read_like_xlsx() {
        assert_eq!(iso_date_time("2024-01-31T14:05:09"), "2024-01-31 14:05:09");
        assert_eq!(iso_date_time("2020-02-29T00:00:00"), "2020-02-29");
        assert_eq!(iso_date_time("2020-02-29"), "2020-02-29");
        assert_eq!(iso_duration("PT09H30M00S"), "09:30:00");
        assert_eq!(iso_duration("PT23H59M59.4S"), "23:59:59");
        assert_eq!(iso_duration("P1DT2H"), "P1DT2H");
    }

    #[test]
    fn numbers_read_back_as_written() {
        for (f, expected) in [
            (3.0, "3"),
            (1234.5, "1234.5"),
            (-0.1, "-0.1"),
            (1e20, "100000000000000000000"),
            (0.30000000000000004, "0.30000000000000004"),
        ] {
            assert_eq!(number(f), expected);
        }
    }
}
