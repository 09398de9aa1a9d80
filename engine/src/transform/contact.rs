//! E-mail addresses and phone numbers, checked by real parsers.

use std::str::FromStr;

use email_address::EmailAddress;
use phonenumber::Mode;

use super::Outcome;
use crate::reject::RejectReason;

/// Trims, strips `mailto:`, lowercases the domain (the local part is the
/// mailbox owner's and stays as it is), and checks the address.
pub fn normalize_email(raw: &str) -> Outcome {
    let mut value = raw.trim();
    if value.len() >= 7 && value.get(..7).is_some_and(|p| p.eq_ignore_ascii_case("mailto:")) {
        value = value.get(7..).unwrap_or_default().trim();
    }
    if value.is_empty() {
        return Outcome::Null;
    }
    let Some((local, domain)) = value.rsplit_once('@') else {
        return Outcome::Failed(RejectReason::InvalidEmail, format!("{raw:?} has no @"));
    };
    let address = format!("{local}@{}", domain.to_lowercase());
    match EmailAddress::from_str(&address) {
        Ok(_) => Outcome::Value(address),
        Err(e) => Outcome::Failed(RejectReason::InvalidEmail, format!("{raw:?}: {e}")),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PhoneSpec {
    /// ISO 3166 region for numbers written without a country code.
    pub region: Option<String>,
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
    if !number.is_valid() {
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
        for (input, expected) in cases {
            assert_eq!(normalize_email(input), expected, "{input:?}");
        }
        for bad in ["no-at-sign", "a@", "@b.com", "a b@c.com", "a@@b.com"] {
            assert!(
                matches!(normalize_email(bad), Outcome::Failed(RejectReason::InvalidEmail, _)),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn phone_cases() {
        let us = PhoneSpec { region: Some("US".into()) };
        let de = PhoneSpec { region: Some("DE".into()) };
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
