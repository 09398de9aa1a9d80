//! Any text in every locale: parse_money returns, never panics, and what it
//! accepts is an exact amount with a known currency.
#![no_main]

use libfuzzer_sys::fuzz_target;
use migrate_engine::transform::money::{CURRENCIES, parse_money, split_money};
use migrate_engine::transform::{Locale, MoneySpec, Outcome};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for locale in [Locale::En, Locale::De, Locale::Fr, Locale::Ch] {
        for default in [None, Some("USD".to_string())] {
            let spec = MoneySpec { locale, default_currency: default, ..MoneySpec::default() };
            if let Outcome::Value(v) = parse_money(text, &spec) {
                let (amount, code) = split_money(&v).expect("AMOUNT CODE");
                assert!(
                    amount.parse::<f64>().is_ok() || amount.chars().all(|c| c.is_ascii_digit() || c == '.' || c == '-')
                );
                assert!(CURRENCIES.contains(&code), "{code}");
            }
        }
    }
});
