//! Any bytes as the start of a CSV file: the sniffers (encoding, delimiter,
//! quoting, preamble) never panic, and the bounded record reader agrees
//! with the csv crate's reader on every record: the same fields where they
//! are kept whole, the real size and a prefix of the field where they are
//! cut at the cap.
#![no_main]

use libfuzzer_sys::fuzz_target;
use migrate_csv::{CsvSourceConfig, Record, Records, sniff};

fuzz_target!(|data: &[u8]| {
    let Ok(sniffed) = sniff(&CsvSourceConfig::for_path("fuzz.csv"), data) else { return };
    let (quotes, escape, double_quote) = sniffed.quoting.parser_options();
    let mut theirs = csv::ReaderBuilder::new();
    theirs
        .delimiter(sniffed.delimiter)
        .has_headers(false)
        .flexible(true)
        .quoting(quotes)
        .escape(escape)
        .double_quote(double_quote);
    let mut theirs = theirs.from_reader(data);
    let mut whole = Records::new(data, sniffed.delimiter, sniffed.quoting, usize::MAX);
    let mut cut = Records::new(data, sniffed.delimiter, sniffed.quoting, 3);
    let (mut expected, mut mine, mut short) = (csv::ByteRecord::new(), Record::default(), Record::default());
    let mut last_line = 0;
    loop {
        let more = theirs.read_byte_record(&mut expected).expect("reading from memory");
        assert_eq!(whole.read(&mut mine).expect("reading from memory"), more);
        assert_eq!(cut.read(&mut short).expect("reading from memory"), more);
        if !more {
            break;
        }
        assert_eq!(mine.position(), expected.position().map_or(0, |p| p.byte()));
        assert_eq!(mine.len(), expected.len());
        assert!(mine.is_whole());
        assert!(mine.line() >= last_line, "line {} after {last_line}", mine.line());
        last_line = mine.line();
        assert_eq!((short.line(), short.len()), (mine.line(), mine.len()));
        for (i, field) in expected.iter().enumerate() {
            assert_eq!(mine.get(i), Some(field));
            assert_eq!(short.size(i), field.len());
            assert_eq!(short.get(i), field.get(..field.len().min(3)));
        }
    }
});
