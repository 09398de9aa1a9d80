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
