//! Any text as a mapping file, with every `${VAR}` defined: the parser
//! returns a mapping or diagnostics and never panics; a mapping the strict
//! parser accepts has no errors in the lenient one either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use migrate_mappings::{parse, parse_lenient};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let env = |name: &str| Some(format!("value-of-{name}"));
    let lenient = parse_lenient("fuzz.toml", text, &env);
    if parse("fuzz.toml", text, &env).is_ok() {
        assert!(lenient.is_ok(), "the strict parser accepted what the lenient one refused");
    }
});
