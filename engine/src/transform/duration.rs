//! Elapsed times (`255:10:10`, a spreadsheet's `[h]:mm:ss` cell, ISO
//! `PT36H30M`): not dates, so the date transform refuses them, and this one
//! reads them exactly.

use super::Outcome;
use crate::reject::RejectReason;

/// What a duration becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DurationOutput {
    /// Seconds, an exact decimal (`918610`, `0.5`): a number.
    #[default]
    Seconds,
    /// ISO 8601 (`PT255H10M10S`): text.
    Iso,
}

/// Milliseconds of `h:mm`, `h:mm:ss`, `h:mm:ss.fff` (hours unbounded, a
/// leading `-` allowed) or ISO 8601 `PnDTnHnMnS`; `None` when it is neither.
pub fn duration_millis(raw: &str) -> Option<i128> {
    let value = raw.trim();
    let (negative, value) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    let ms = if value.starts_with('P') { iso_millis(value)? } else { clock_millis(value)? };
    Some(if negative { -ms } else { ms })
}

fn clock_millis(value: &str) -> Option<i128> {
    let parts: Vec<&str> = value.split(':').collect();
    let (h, m, s) = match parts.as_slice() {
        [h, m] => (*h, *m, "0"),
        [h, m, s] => (*h, *m, *s),
        _ => return None,
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(h) || !digits(m) || m.len() != 2 {
        return None;
    }
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if !digits(whole)
        || (parts.len() == 3 && whole.len() != 2)
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 3
    {
        return None;
    }
    let (h, m, sec): (i128, i128, i128) = (h.parse().ok()?, m.parse().ok()?, whole.parse().ok()?);
    if m >= 60 || sec >= 60 {
        return None;
    }
    let frac_ms: i128 = if frac.is_empty() { 0 } else { format!("{frac:0<3}").parse().ok()? };
    Some(((h * 60 + m) * 60 + sec) * 1000 + frac_ms)
}

fn iso_millis(value: &str) -> Option<i128> {
    let rest = value.strip_prefix('P')?;
    let (days, time) = match rest.split_once('T') {
        Some((d, t)) => (d, t),
        None => (rest, ""),
    };
    let mut ms: i128 = 0;
    let mut any = false;
    let mut take = |text: &str, units: &[(char, i128)]| -> Option<()> {
        let mut number = String::new();
        let mut next = 0;
        for c in text.chars() {
            if c.is_ascii_digit() || c == '.' {
                number.push(c);
                continue;
            }
            let at = units.iter().skip(next).position(|(u, _)| *u == c)? + next;
            let (whole, frac) = number.split_once('.').unwrap_or((&number, ""));
            let whole: i128 = whole.parse().ok()?;
            let frac_ms: i128 =
                if frac.is_empty() { 0 } else { format!("{:0<3}", &frac[..frac.len().min(3)]).parse().ok()? };
            let unit = units.get(at)?.1;
            ms += whole * unit + frac_ms * unit / 1000;
            any = true;
            number.clear();
            next = at + 1;
        }
        number.is_empty().then_some(())
    };
    take(days, &[('D', 86_400_000)])?;
    take(time, &[('H', 3_600_000), ('M', 60_000), ('S', 1000)])?;
    any.then_some(ms)
}

/// Reads one value.
pub fn parse_duration(raw: &str, output: DurationOutput) -> Outcome {
    if raw.trim().is_empty() {
        return Outcome::Null;
    }
    let Some(ms) = duration_millis(raw) else {
        return Outcome::Failed(
            RejectReason::TransformFailed,
            format!("{:?} is not a duration (h:mm:ss, or ISO 8601 such as PT36H30M)", raw.trim()),
        );
    };
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.abs();
    Outcome::Value(match output {
        DurationOutput::Seconds => {
            let frac = ms % 1000;
            if frac == 0 {
                format!("{sign}{}", ms / 1000)
            } else {
                format!("{sign}{}.{}", ms / 1000, format!("{frac:03}").trim_end_matches('0'))
            }
        }
        DurationOutput::Iso => {
            let secs = ms / 1000;
            let (h, m, s, frac) = (secs / 3600, (secs % 3600) / 60, secs % 60, ms % 1000);
            let mut text = format!("{sign}PT{h}H{m}M");
            if frac == 0 {
                text.push_str(&format!("{s}S"));
            } else {
                text.push_str(&format!("{s}.{}S", format!("{frac:03}").trim_end_matches('0')));
            }
            text
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_exactly_in_every_form() {
        let cases = [
            ("255:10:10", "918610", "PT255H10M10S"),
            ("0:01", "60", "PT0H1M0S"),
            ("36:30:00.5", "131400.5", "PT36H30M0.5S"),
            ("-1:00:00", "-3600", "-PT1H0M0S"),
            ("PT36H30M", "131400", "PT36H30M0S"),
            ("P1DT2H", "93600", "PT26H0M0S"),
            ("PT0.25S", "0.25", "PT0H0M0.25S"),
        ];
        for (raw, seconds, iso) in cases {
            assert_eq!(parse_duration(raw, DurationOutput::Seconds), Outcome::Value(seconds.into()), "{raw}");
            assert_eq!(parse_duration(raw, DurationOutput::Iso), Outcome::Value(iso.into()), "{raw}");
        }
        for bad in ["10:75:00", "1:2:3", "abc", "P", "PT5X", "12", "2024-01-01"] {
            assert!(matches!(parse_duration(bad, DurationOutput::Seconds), Outcome::Failed(..)), "{bad}");
        }
        assert_eq!(parse_duration(" ", DurationOutput::Seconds), Outcome::Null);
    }
}
