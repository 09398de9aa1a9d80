//! Any text, any preset, any zone with DST: parse_date returns, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use migrate_engine::transform::date::parse_date;
use migrate_engine::transform::{DateFormat, DateOutput, DateSpec};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let formats = ["iso", "us", "eu", "excel_serial", "unix_s", "unix_ms"]
        .iter()
        .flat_map(|p| DateFormat::preset(p).unwrap_or_default())
        .chain([DateFormat::Pattern("%d %b %y %I%p".into())])
        .collect();
    for output in [DateOutput::Date, DateOutput::Timestamp] {
        let spec = DateSpec {
            formats: Vec::clone(&formats),
            timezone: "America/New_York".parse().unwrap_or(chrono_tz_utc()),
            output,
            ..DateSpec::default()
        };
        let _ = parse_date(text, &spec);
    }
});

fn chrono_tz_utc() -> migrate_engine::transform::Tz {
    migrate_engine::transform::Tz::UTC
}
