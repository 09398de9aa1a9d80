use super::*;

fn spec(locale: Locale, default: Option<&str>) -> MoneySpec {
    MoneySpec { locale, default_currency: default.map(str::to_string), ..MoneySpec::default() }
}

fn v(s: &str) -> Outcome {
    Outcome::Value(s.to_string())
}

#[test]
fn legacy_amounts_to_exact_values_and_codes() {
    use Locale::*;
    let cases: Vec<(&str, MoneySpec, Outcome)> = vec![
        ("$1,234.56", spec(En, Some("USD")), v("1234.56 USD")),
        ("1.234,56 €", spec(De, None), v("1234.56 EUR")),
        ("1 234,56", spec(Fr, Some("EUR")), v("1234.56 EUR")),
        ("1\u{a0}234,56 €", spec(Fr, None), v("1234.56 EUR")),
        ("1\u{202f}234,56", spec(Fr, Some("EUR")), v("1234.56 EUR")),
        ("(123.45)", spec(En, Some("USD")), v("-123.45 USD")),
        ("123.45-", spec(En, Some("USD")), v("-123.45 USD")),
        ("-$1,234.56", spec(En, Some("USD")), v("-1234.56 USD")),
        ("$-1,234.56", spec(En, Some("USD")), v("-1234.56 USD")),
        ("USD 1,234", spec(En, None), v("1234 USD")),
        ("1,234 usd", spec(En, None), v("1234 USD")),
        ("12,50 zł", spec(Fr, None), v("12.50 PLN")),
        ("12,50 zł", spec(De, None), v("12.50 PLN")),
        ("¥1,234", spec(En, None), v("1234 JPY")),
        ("¥1,234", spec(En, Some("CNY")), v("1234 CNY")),
        ("CHF 1'234.50", spec(Ch, None), v("1234.50 CHF")),
        ("US$ 5", spec(En, None), v("5 USD")),
        ("£0.99", spec(En, None), v("0.99 GBP")),
        ("1234567.891", spec(En, Some("USD")), v("1234567.891 USD")),
        (".5", spec(En, Some("USD")), v("0.5 USD")),
        ("0,10 €", spec(De, None), v("0.10 EUR")),
        ("   ", spec(En, Some("USD")), Outcome::Null),
        ("99", spec(En, Some("EUR")), v("99 EUR")),
    ];
    for (input, spec, expected) in cases {
        assert_eq!(parse_money(input, &spec), expected, "{input:?} {spec:?}");
    }
}

#[test]
fn what_does_not_read_exactly_is_rejected_never_guessed() {
    use Locale::*;
    let cases: Vec<(&str, MoneySpec, RejectReason)> = vec![
        // The European amount in an English column: not 1.234.
        ("1.234,56", spec(En, Some("USD")), RejectReason::InvalidAmount),
        ("1,234.56", spec(De, Some("EUR")), RejectReason::InvalidAmount),
        ("12,34,567", spec(En, Some("USD")), RejectReason::InvalidAmount),
        ("1,23", spec(En, Some("USD")), RejectReason::InvalidAmount),
        ("12abc", spec(En, Some("USD")), RejectReason::InvalidAmount),
        ("--5", spec(En, Some("USD")), RejectReason::InvalidAmount),
        ("(-5)", spec(En, Some("USD")), RejectReason::InvalidAmount),
        ("$", spec(En, Some("USD")), RejectReason::InvalidAmount),
        ("1e5", spec(En, Some("USD")), RejectReason::InvalidAmount),
        ("99999999999999999999999999999999", spec(En, Some("USD")), RejectReason::InvalidAmount),
        // `$` alone needs a default that is a dollar.
        ("$5", spec(En, None), RejectReason::UnknownCurrency),
        ("$5", spec(En, Some("EUR")), RejectReason::UnknownCurrency),
        ("5 kr", spec(En, None), RejectReason::UnknownCurrency),
        ("5", spec(En, None), RejectReason::UnknownCurrency),
    ];
    for (input, spec, reason) in cases {
        match parse_money(input, &spec) {
            Outcome::Failed(r, message) => {
                assert_eq!(r, reason, "{input:?}: {message}");
                assert!(message.contains(&format!("{input:?}")), "{message}");
            }
            other => panic!("{input:?} should be rejected, got {other:?}"),
        }
    }
}

#[test]
fn sums_stay_exact_over_a_million_amounts() {
    // 0.1 + 0.2 is 0.30000000000000004 in floating point; a million of each
    // must add up to exactly 300000.0 here.
    let en = spec(Locale::En, Some("USD"));
    let mut total = Decimal::ZERO;
    for i in 0..1_000_000u32 {
        let text = if i % 2 == 0 { "$0.10" } else { "$0.20" };
        let Outcome::Value(v) = parse_money(text, &en) else { panic!("{text}") };
        let (amount, _) = split_money(&v).unwrap();
        total += Decimal::from_str(amount).unwrap();
    }
    assert_eq!(total.to_string(), "150000.00");
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parsing_never_panics(input in "\\PC{0,30}") {
            for locale in [Locale::En, Locale::De, Locale::Fr, Locale::Ch] {
                let _ = parse_money(&input, &spec(locale, Some("USD")));
            }
        }

        #[test]
        fn formatting_then_parsing_round_trips(units in -10_000_000_000i64..10_000_000_000, cents in 0u32..100) {
            let amount = Decimal::new(units.abs() * 100 + i64::from(cents), 2) * if units < 0 { Decimal::NEGATIVE_ONE } else { Decimal::ONE };
            // Written the German way, with grouping.
            let plain = amount.abs().to_string();
            let (int, frac) = plain.split_once('.').unwrap();
            let mut grouped = String::new();
            for (i, c) in int.chars().enumerate() {
                if i > 0 && (int.len() - i) % 3 == 0 {
                    grouped.push('.');
                }
                grouped.push(c);
            }
            let text = format!("{}{grouped},{frac} €", if amount.is_sign_negative() { "-" } else { "" });
            prop_assert_eq!(parse_money(&text, &spec(Locale::De, None)), Outcome::Value(format!("{amount} EUR")));
        }
    }
}

#[test]
fn the_locale_of_a_column_is_inferred_only_from_unambiguous_values() {
    let decide = |values: &[&str]| {
        let mut e = LocaleEvidence::default();
        values.iter().for_each(|v| e.observe(v));
        e.decide()
    };
    assert_eq!(decide(&["$1,234.56", "12.50", "1,234"]), Ok(Locale::En));
    assert_eq!(decide(&["1.234,56 €", "12,50", "1.234"]), Ok(Locale::De));
    assert_eq!(decide(&["1 234,56", "12,50 €"]), Ok(Locale::Fr));
    assert_eq!(decide(&["CHF 1'234.50", "3.10"]), Ok(Locale::Ch));
    let ambiguous = decide(&["1,234", "5,000", "7"]).unwrap_err();
    assert!(ambiguous.starts_with("ambiguous: amounts like \"1,234\""), "{ambiguous}");
    let mixed = decide(&["1,234.56", "12,50"]).unwrap_err();
    assert!(mixed.starts_with("inconsistent: 1 values end in a decimal point"), "{mixed}");
    assert!(decide(&["", "abc"]).is_err());
}
