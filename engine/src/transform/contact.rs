//! E-mail addresses and phone numbers, checked by real parsers.

use std::str::FromStr;

use email_address::EmailAddress;
use phonenumber::Mode;

use super::Outcome;
use crate::reject::RejectReason;

/// What the `email` transform keeps.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EmailSpec {
    /// Accept a domain without a dot (`ada@intranet`): off by default,
    /// since such an address cannot be mailed from outside.
    pub local_domains: bool,
    /// What to keep of `Name <address>`: the address (the default) or the
    /// display name (`Name`; NULL when there is none).
    pub part: EmailPart,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmailPart {
    #[default]
    Address,
    DisplayName,
}

/// Counted when an address was taken out of `Name <address>`.
pub const NOTE_DISPLAY_NAME: &str = "email_display_name_removed";

/// `Name <address>` (the name maybe quoted) → (Some(name), address); a bare
/// address → (None, address).
fn split_display_name(value: &str) -> (Option<&str>, &str) {
    if let Some(inner) = value.strip_suffix('>')
        && let Some(open) = inner.rfind('<')
    {
        let name = inner.get(..open).unwrap_or_default().trim();
        let name = name.strip_prefix('"').and_then(|n| n.strip_suffix('"')).unwrap_or(name).trim();
        let address = inner.get(open + 1..).unwrap_or_default().trim();
        return (Some(name).filter(|n| !n.is_empty()), address);
    }
    (None, value)
}

/// Trims, strips `mailto:`, takes the address out of `Name <address>`
/// (counted as `email_display_name_removed`), lowercases the domain (the
/// local part is the mailbox owner's and stays as it is), and checks the
/// address; a domain without a dot is refused unless `local_domains`.
pub fn normalize_email(raw: &str, spec: &EmailSpec) -> Outcome {
    let mut value = raw.trim();
    if value.len() >= 7 && value.get(..7).is_some_and(|p| p.eq_ignore_ascii_case("mailto:")) {
        value = value.get(7..).unwrap_or_default().trim();
    }
    if value.is_empty() {
        return Outcome::Null;
    }
    let (name, address) = split_display_name(value);
    let took_out = address.len() != value.len();
    if spec.part == EmailPart::DisplayName {
        return match name {
            Some(n) => Outcome::Value(n.to_string()),
            None => Outcome::Null,
        };
    }
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Outcome::Failed(RejectReason::InvalidEmail, format!("{raw:?} has no @"));
    };
    if !spec.local_domains && !domain.is_empty() && !domain.contains('.') {
        return Outcome::Failed(
            RejectReason::InvalidEmail,
            format!(
                "{raw:?}: the domain {domain:?} has no dot (a local domain; allow it with {{ email = {{ local_domains = true }} }})"
            ),
        );
    }
    let address = format!("{local}@{}", domain.to_lowercase());
    match EmailAddress::from_str(&address) {
        Ok(_) if took_out => Outcome::ValueNoted(address, NOTE_DISPLAY_NAME),
        Ok(_) => Outcome::Value(address),
        Err(e) => Outcome::Failed(RejectReason::InvalidEmail, format!("{raw:?}: {e}")),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PhoneSpec {
    /// ISO 3166 region for numbers written without a country code.
    pub region: Option<String>,
    /// A source column giving each row's region (`DE`, `us`); where it is
    /// empty, `region` applies.
    pub region_column: Option<String>,
}

/// Reads a column of phone numbers whose region is given row by row in
/// `regions` (an ISO 3166 two-letter code, any case); an empty region
/// falls back to the spec's.
pub fn parse_with_regions(
    values: &polars::prelude::StringChunked,
    regions: &polars::prelude::StringChunked,
    spec: &PhoneSpec,
) -> super::TransformOutput {
    super::map_values_indexed(values, |row, v| {
        let Some(region) = regions.get(row).map(str::trim).filter(|r| !r.is_empty()) else {
            return normalize_phone(v, spec);
        };
        let code = region.to_ascii_uppercase();
        if code.len() != 2 || phonenumber::country::Id::from_str(&code).is_err() {
            return Outcome::Failed(
                RejectReason::InvalidPhone,
                format!("{v:?}: its region {region:?} is not a two-letter country code (ISO 3166: DE, US, …)"),
            );
        }
        normalize_phone(v, &PhoneSpec { region: Some(code), region_column: None })
    })
}

/// A phone number in E.164 (`+15417543010`), its extension kept as
/// `;ext=123`; numbers the numbering plan does not know are rejected.
pub fn normalize_phone(raw: &str, spec: &PhoneSpec) -> Outcome {
    let value = raw.trim();
    if value.is_empty() {
        return Outcome::Null;
    }
    let region = spec.region.as_deref().and_then(|r| phonenumber::country::Id::from_str(r).ok());
    let number = match phonenumber::parse(region, value) {
        Ok(n) => n,
        Err(e) => return Outcome::Failed(RejectReason::InvalidPhone, format!("{raw:?}: {e}")),
    };
    if !super::phone_valid::is_valid(&number) {
        return Outcome::Failed(RejectReason::InvalidPhone, format!("{raw:?} is not a valid phone number"));
    }
    let mut out = number.format().mode(Mode::E164).to_string();
    if let Some(ext) = number.extension() {
        out.push_str(";ext=");
        out.push_str(ext);
    }
    Outcome::Value(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_cases() {
        let cases = [
            ("Ada.Lovelace@Example.COM", Outcome::Value("Ada.Lovelace@example.com".into())),
            ("  mailto:grace@NAVY.mil ", Outcome::Value("grace@navy.mil".into())),
            ("MAILTO:x@y.io", Outcome::Value("x@y.io".into())),
            ("   ", Outcome::Null),
            ("mailto:", Outcome::Null),
        ];
        let plain = EmailSpec::default();
        for (input, expected) in cases {
            assert_eq!(normalize_email(input, &plain), expected, "{input:?}");
        }
        for bad in ["no-at-sign", "a@", "@b.com", "a b@c.com", "a@@b.com", "a@b", "Bob <bob@intranet>"] {
            assert!(
                matches!(normalize_email(bad, &plain), Outcome::Failed(RejectReason::InvalidEmail, _)),
                "{bad:?} should be rejected"
            );
        }
        let Outcome::Failed(_, why) = normalize_email("a@b", &plain) else { unreachable!() };
        assert_eq!(
            why,
            "\"a@b\": the domain \"b\" has no dot (a local domain; allow it with { email = { local_domains = true } })"
        );
        let local = EmailSpec { local_domains: true, ..EmailSpec::default() };
        assert_eq!(normalize_email("ops@Intranet", &local), Outcome::Value("ops@intranet".into()));
        // The address out of a display-name form, counted; the name on request.
        let named = [
            ("Bob <BOB@Example.COM>", "BOB@example.com", Some("Bob")),
            ("\"Smith, Bob\" <bob@example.com>", "bob@example.com", Some("Smith, Bob")),
            ("  <ada@example.com>  ", "ada@example.com", None),
        ];
        let name_part = EmailSpec { part: EmailPart::DisplayName, ..EmailSpec::default() };
        for (input, address, name) in named {
            assert_eq!(
                normalize_email(input, &plain),
                Outcome::ValueNoted(address.into(), NOTE_DISPLAY_NAME),
                "{input}"
            );
            let expected = name.map_or(Outcome::Null, |n| Outcome::Value(n.into()));
            assert_eq!(normalize_email(input, &name_part), expected, "{input}");
        }
        assert_eq!(normalize_email("ada@example.com", &name_part), Outcome::Null);
    }

    #[test]
    fn a_region_column_gives_each_number_its_country() {
        use polars::prelude::*;
        let numbers = StringChunked::new(
            "phone".into(),
            &[Some("030 1234567"), Some("(541) 754-3010"), Some("020 7946 0958"), Some("0221 987654"), Some("1")],
        );
        let regions =
            StringChunked::new("country".into(), &[Some("DE"), Some("us"), Some(" GB "), None, Some("Germany")]);
        let spec = PhoneSpec { region: Some("DE".into()), region_column: Some("country".into()) };
        let out = parse_with_regions(&numbers, &regions, &spec);
        let values: Vec<Option<&str>> = out.values.iter().collect();
        assert_eq!(
            values,
            [Some("+49301234567"), Some("+15417543010"), Some("+442079460958"), Some("+49221987654"), None]
        );
        let failures: Vec<(usize, &str)> = out.failures.iter().map(|f| (f.row, f.message.as_str())).collect();
        assert_eq!(
            failures,
            [(4, "\"1\": its region \"Germany\" is not a two-letter country code (ISO 3166: DE, US, …)")]
        );
    }

    #[test]
    fn phone_cases() {
        let us = PhoneSpec { region: Some("US".into()), region_column: None };
        let de = PhoneSpec { region: Some("DE".into()), region_column: None };
        let cases = [
            ("(541) 754-3010", &us, Outcome::Value("+15417543010".into())),
            ("541.754.3010", &us, Outcome::Value("+15417543010".into())),
            ("+1 541 754 3010 ext. 123", &us, Outcome::Value("+15417543010;ext=123".into())),
            ("030 901820", &de, Outcome::Value("+4930901820".into())),
            ("+44 20 7946 0958", &us, Outcome::Value("+442079460958".into())),
            ("", &us, Outcome::Null),
        ];
        for (input, spec, expected) in cases {
            assert_eq!(normalize_phone(input, spec), expected, "{input:?}");
        }
        for bad in ["12", "not a phone", "+1 555 0100"] {
            assert!(
                matches!(normalize_phone(bad, &us), Outcome::Failed(RejectReason::InvalidPhone, _)),
                "{bad:?} should be rejected"
            );
        }
    }
}
