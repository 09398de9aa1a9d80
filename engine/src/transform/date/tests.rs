use super::*;

fn spec(formats: &[&str], tz: &str, output: DateOutput) -> DateSpec {
    let formats = formats
        .iter()
        .flat_map(|f| DateFormat::preset(f).unwrap_or_else(|| vec![DateFormat::Pattern(f.to_string())]))
        .collect();
    DateSpec { formats, timezone: tz.parse().unwrap(), output, ..DateSpec::default() }
}

fn v(s: &str) -> Outcome {
    Outcome::Value(s.to_string())
}

#[test]
fn legacy_dates_to_exact_targets() {
    use DateOutput::{Date, Timestamp};
    let cases: Vec<(&str, DateSpec, Outcome)> = vec![
        // ISO, with and without time and offset.
        ("2018-03-06", spec(&["iso"], "UTC", Date), v("2018-03-06")),
        ("2018-03-06 14:05:09", spec(&["iso"], "UTC", Timestamp), v("2018-03-06 14:05:09.000000+00")),
        ("2018-03-06T14:05:09.123456+02:00", spec(&["iso"], "UTC", Timestamp), v("2018-03-06 12:05:09.123456+00")),
        ("2018-03-06T14:05:09Z", spec(&["iso"], "America/New_York", Timestamp), v("2018-03-06 14:05:09.000000+00")),
        // US and EU orders: 03/06/2018 is March 6th in one, June 3rd in the other.
        ("03/06/2018", spec(&["us"], "UTC", Date), v("2018-03-06")),
        ("03/06/2018", spec(&["eu"], "UTC", Date), v("2018-06-03")),
        ("06.03.2018 14:30", spec(&["eu"], "UTC", Timestamp), v("2018-03-06 14:30:00.000000+00")),
        ("3/6/2018 2:30 PM", spec(&["us"], "UTC", Timestamp), v("2018-03-06 14:30:00.000000+00")),
        // A local time in New York → UTC (EST is UTC-5, EDT UTC-4).
        ("01/15/2019 09:00", spec(&["us"], "America/New_York", Timestamp), v("2019-01-15 14:00:00.000000+00")),
        ("07/15/2019 09:00", spec(&["us"], "America/New_York", Timestamp), v("2019-07-15 13:00:00.000000+00")),
        // A bare date into a timestamp is local midnight.
        ("2019-07-15", spec(&["iso"], "America/New_York", Timestamp), v("2019-07-15 04:00:00.000000+00")),
        // DST: 2019-03-10 02:30 never happened in New York; 2019-11-03 01:30 happened twice.
        (
            "2019-03-10 02:30",
            spec(&["iso"], "America/New_York", Timestamp),
            Outcome::ValueNoted("2019-03-10 07:30:00.000000+00".into(), NOTE_DST_GAP),
        ),
        (
            "2019-11-03 01:30",
            spec(&["iso"], "America/New_York", Timestamp),
            Outcome::ValueNoted("2019-11-03 05:30:00.000000+00".into(), NOTE_DST_OVERLAP),
        ),
        // Two-digit years around the pivot (50).
        ("03/06/49", spec(&["us"], "UTC", Date), v("2049-03-06")),
        ("03/06/50", spec(&["us"], "UTC", Date), v("1950-03-06")),
        ("03/06/99", spec(&["us"], "UTC", Date), v("1999-03-06")),
        // Excel serials and Unix epochs.
        ("43165", spec(&["excel_serial"], "UTC", Date), v("2018-03-06")),
        ("43165.5", spec(&["excel_serial"], "UTC", Timestamp), v("2018-03-06 12:00:00.000000+00")),
        ("1520344800", spec(&["unix_s"], "America/New_York", Timestamp), v("2018-03-06 14:00:00.000000+00")),
        ("1520344800123", spec(&["unix_ms"], "UTC", Timestamp), v("2018-03-06 14:00:00.123000+00")),
        // A custom pattern.
        ("20180306", spec(&["%Y%m%d"], "UTC", Date), v("2018-03-06")),
        ("  2018-03-06  ", spec(&["iso"], "UTC", Date), v("2018-03-06")),
        ("", spec(&["iso"], "UTC", Date), Outcome::Null),
    ];
    for (input, spec, expected) in cases {
        assert_eq!(parse_date(input, &spec), expected, "{input:?} with {:?}", spec.formats.first());
    }
}

#[test]
fn sentinels_become_null_and_are_noted() {
    let date = spec(&["iso", "us"], "UTC", DateOutput::Date);
    for input in
        ["0000-00-00", "0000-00-00 00:00:00", "00/00/0000", "1899-12-30", "1900-01-01", "0001-01-01", "12/30/1899"]
    {
        assert_eq!(parse_date(input, &date), Outcome::NullNoted(NOTE_SENTINEL), "{input:?}");
    }
    // A sentinel date with a real time of day is a real value.
    let ts = spec(&["iso"], "UTC", DateOutput::Timestamp);
    assert_eq!(parse_date("1900-01-01 08:15", &ts), v("1900-01-01 08:15:00.000000+00"));
    // The list is the mapping's to change.
    let custom = DateSpec { sentinels: vec!["9999-12-31".into()], sentinel_dates: vec![], ..date };
    assert_eq!(parse_date("9999-12-31", &custom), Outcome::NullNoted(NOTE_SENTINEL));
    assert_eq!(parse_date("1900-01-01", &custom), v("1900-01-01"));
}

#[test]
fn failures_name_the_value_and_every_format_tried() {
    let date = spec(&["%m/%d/%Y", "%Y-%m-%d"], "UTC", DateOutput::Date);
    let cases = [
        (
            "13/45/2020",
            RejectReason::InvalidDate,
            "\"13/45/2020\" matches none of the formats tried: %m/%d/%Y, %Y-%m-%d",
        ),
        (
            "2019-02-29",
            RejectReason::InvalidDate,
            "\"2019-02-29\" matches none of the formats tried: %m/%d/%Y, %Y-%m-%d",
        ),
        ("garbage", RejectReason::InvalidDate, "\"garbage\" matches none of the formats tried: %m/%d/%Y, %Y-%m-%d"),
    ];
    for (input, reason, message) in cases {
        assert_eq!(parse_date(input, &date), Outcome::Failed(reason, message.to_string()), "{input:?}");
    }
}

#[test]
fn dates_outside_the_window_are_rejected() {
    let window = DateSpec {
        min: NaiveDate::from_ymd_opt(1950, 1, 1).unwrap(),
        max: NaiveDate::from_ymd_opt(2030, 12, 31).unwrap(),
        ..spec(&["iso"], "UTC", DateOutput::Date)
    };
    assert_eq!(
        parse_date("1949-12-31", &window),
        Outcome::Failed(
            RejectReason::DateOutOfRange,
            "\"1949-12-31\": 1949-12-31 is outside 1950-01-01 to 2030-12-31".into()
        )
    );
    assert_eq!(parse_date("2030-12-31", &window), v("2030-12-31"));
    let any = spec(&["iso"], "UTC", DateOutput::Date);
    assert!(matches!(parse_date("0000-06-01", &any), Outcome::Failed(RejectReason::DateOutOfRange, _)));
}

#[test]
fn a_zone_column_sets_each_rows_zone() {
    use polars::prelude::*;
    let values = StringChunked::new(
        "d".into(),
        &[Some("2019-07-15 09:00"), Some("2019-07-15 09:00"), Some("2019-07-15 09:00"), Some("2019-07-15 09:00")],
    );
    let zones =
        StringChunked::new("z".into(), &[Some("America/New_York"), Some("Europe/Berlin"), None, Some("Mars/Base")]);
    let spec = DateSpec { timezone_column: Some("z".into()), ..spec(&["iso"], "UTC", DateOutput::Timestamp) };
    let out = parse_with_zones(&values, &zones, &spec);
    assert_eq!(out.values.get(0), Some("2019-07-15 13:00:00.000000+00"));
    assert_eq!(out.values.get(1), Some("2019-07-15 07:00:00.000000+00"));
    assert_eq!(out.values.get(2), Some("2019-07-15 09:00:00.000000+00"), "no zone: the column's default");
    assert_eq!(out.failures.len(), 1);
    assert_eq!(out.failures[0].row, 3);
    assert_eq!(out.failures[0].message, "\"Mars/Base\" is not an IANA time zone");
}

#[test]
fn day_order_evidence() {
    let decide = |values: &[&str]| {
        let mut e = OrderEvidence::default();
        values.iter().for_each(|v| e.observe(v));
        e.decide()
    };
    assert_eq!(decide(&["03/06/2018", "25/12/2019", "01/02/2020"]), Ok(DayOrder::Dmy));
    assert_eq!(decide(&["03/06/2018", "12/25/2019"]), Ok(DayOrder::Mdy));
    let ambiguous = decide(&["03/06/2018", "01/02/2020"]).unwrap_err();
    assert!(ambiguous.starts_with("ambiguous: none of 2 values has a part above 12"), "{ambiguous}");
    let mixed = decide(&["25/12/2019", "12/25/2019"]).unwrap_err();
    assert!(mixed.starts_with("inconsistent: 1 values are day-first"), "{mixed}");
    // ISO dates say nothing about the order.
    assert!(decide(&["2019-12-25"]).is_err());
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parsing_never_panics(input in "\\PC{0,40}") {
            let _ = parse_date(&input, &spec(&["iso", "us", "eu", "excel_serial", "unix_s", "unix_ms"], "Europe/Berlin", DateOutput::Timestamp));
        }

        #[test]
        fn formatting_then_parsing_round_trips(days in 0i64..3_000_000, secs in 0i64..86_400) {
            let base = NaiveDate::from_ymd_opt(1, 1, 1).unwrap().and_time(NaiveTime::MIN);
            let t = base + Duration::days(days) + Duration::seconds(secs);
            prop_assume!(t.date() <= NaiveDate::from_ymd_opt(9999, 12, 31).unwrap());
            let ts = spec(&["iso"], "UTC", DateOutput::Timestamp);
            let text = t.format("%Y-%m-%d %H:%M:%S").to_string();
            let expected = format!("{}.000000+00", text);
            let parsed = parse_date(&text, &ts);
            if default_sentinel_dates().contains(&t.date()) && secs == 0 {
                prop_assert_eq!(parsed, Outcome::NullNoted(NOTE_SENTINEL));
            } else {
                prop_assert_eq!(parsed, Outcome::Value(expected));
            }
        }
    }
}

#[test]
fn zone_abbreviations_are_fixed_offsets_and_ambiguous_ones_need_the_mapping() {
    let spec = DateSpec {
        formats: DateFormat::preset("us").unwrap(),
        timezone: "Europe/Berlin".parse().unwrap(),
        ..DateSpec::default()
    };
    let cases = [
        ("03/10/2019 10:00 EST", "2019-03-10 15:00:00.000000+00"),
        ("07/01/2019 10:00 EST", "2019-07-01 15:00:00.000000+00"),
        ("07/01/2019 10:00 EDT", "2019-07-01 14:00:00.000000+00"),
        ("07/01/2019 10:00 PDT", "2019-07-01 17:00:00.000000+00"),
        ("01/15/2020 08:30 CET", "2020-01-15 07:30:00.000000+00"),
        ("01/15/2020 08:30 NST", "2020-01-15 12:00:00.000000+00"),
        ("01/15/2020 08:30 GMT", "2020-01-15 08:30:00.000000+00"),
        // No abbreviation: the column's zone.
        ("01/15/2020 08:30", "2020-01-15 07:30:00.000000+00"),
    ];
    for (raw, expected) in cases {
        assert_eq!(parse_date(raw, &spec), Outcome::Value(expected.into()), "{raw}");
    }
    let Outcome::Failed(reason, message) = parse_date("01/15/2020 08:30 CST", &spec) else {
        panic!("CST is ambiguous")
    };
    assert_eq!(reason, RejectReason::InvalidDate);
    assert_eq!(
        message,
        "\"01/15/2020 08:30 CST\": CST is ambiguous (US Central −06:00, China +08:00 or Cuba −05:00); say which zone \
         it means with zone_abbreviations = { CST = \"America/Chicago\" } (an IANA zone)"
    );
    // Settled by the mapping: the zone's own rules, daylight time included.
    let chicago =
        DateSpec { zone_abbreviations: vec![("CST".into(), "America/Chicago".parse().unwrap())], ..spec.clone() };
    assert_eq!(parse_date("01/15/2020 08:30 CST", &chicago), Outcome::Value("2020-01-15 14:30:00.000000+00".into()));
    assert_eq!(parse_date("07/15/2020 08:30 CST", &chicago), Outcome::Value("2020-07-15 13:30:00.000000+00".into()));
    // An unknown capital word is not taken for a zone.
    assert!(matches!(parse_date("01/15/2020 08:30 XYZ", &spec), Outcome::Failed(RejectReason::InvalidDate, _)));
    let iso = DateSpec::default();
    assert!(matches!(
        parse_date("2020-01-15T08:30:00+02:00 EST", &iso),
        Outcome::Failed(RejectReason::InvalidDate, m) if m.contains("both an offset and a zone abbreviation")
    ));
    let as_date = DateSpec { output: DateOutput::Date, ..spec };
    assert_eq!(parse_date("01/15/2020 23:30 PST", &as_date), Outcome::Value("2020-01-15".into()));
}

#[test]
fn the_readme_lists_every_zone_abbreviation() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap_or_default();
    let all = ZONE_ABBREVIATIONS.iter().map(|(a, _, _)| *a).chain(AMBIGUOUS_ABBREVIATIONS.iter().map(|(a, _)| *a));
    let missing: Vec<&str> = all.filter(|a| !readme.contains(&format!("`{a}`"))).collect();
    assert!(readme.contains("zone_abbreviations"), "README.md not read");
    assert!(missing.is_empty(), "{missing:?}");
}

#[test]
fn dates_and_timestamps_are_written_as_chrono_writes_them() {
    // Every day of a few centuries' edges and leap years, and times with
    // and without fractions: the direct writer and chrono's format agree.
    let days = [(1, 1, 1), (999, 12, 31), (1899, 12, 30), (1900, 2, 28), (2000, 2, 29), (2024, 12, 31), (9999, 12, 31)];
    for (y, m, d) in days {
        let date = NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(iso_date(date), date.format("%Y-%m-%d").to_string());
        for (h, mi, s, nanos) in [(0, 0, 0, 0), (23, 59, 59, 999_999_999), (12, 5, 7, 1_000), (1, 2, 3, 123_456_789)] {
            let instant = date.and_hms_nano_opt(h, mi, s, nanos).unwrap().and_utc();
            assert_eq!(iso_timestamp(&instant), instant.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string());
        }
    }
    // Out of 0–9999, and a leap second, chrono writes them.
    let far = NaiveDate::from_ymd_opt(12_000, 1, 1).unwrap();
    assert_eq!(iso_date(far), far.format("%Y-%m-%d").to_string());
    let leap =
        NaiveDate::from_ymd_opt(2016, 12, 31).unwrap().and_hms_nano_opt(23, 59, 59, 1_500_000_000).unwrap().and_utc();
    assert_eq!(iso_timestamp(&leap), leap.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string());
}

#[test]
fn a_pattern_parsed_once_reads_as_parse_from_str_reads() {
    let cases = [
        ("03/06/2018 14:05", "%m/%d/%Y %H:%M"),
        ("2018-03-06T14:05:00.5+02:00", "%Y-%m-%dT%H:%M:%S%.f%:z"),
        ("06.03.18", "%d.%m.%y"),
        ("2018-02-30", "%Y-%m-%d"),
        ("not a date", "%Y-%m-%d"),
    ];
    for (value, pattern) in cases {
        for _ in 0..2 {
            let ours = parse_by(value, pattern).and_then(|p| p.to_naive_datetime_with_offset(0).ok());
            assert_eq!(ours, NaiveDateTime::parse_from_str(value, pattern).ok(), "{value} {pattern}");
            let date = parse_by(value, pattern).and_then(|p| p.to_naive_date().ok());
            assert_eq!(date, NaiveDate::parse_from_str(value, pattern).ok(), "{value} {pattern}");
            let offset = parse_by(value, pattern).and_then(|p| p.to_datetime().ok());
            assert_eq!(offset, DateTime::parse_from_str(value, pattern).ok(), "{value} {pattern}");
        }
    }
}
