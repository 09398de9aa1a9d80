//! Any bytes as a terminator-delimited file (`bcp -t … -r …`), the
//! terminators taken from the input's first bytes: the streaming reader
//! agrees with the whole-text reference on every record (fields and where
//! each record starts), kept whole or cut at the cap with its real size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use migrate_csv::records::split_terminated;
use migrate_csv::{Record, Records, Terminators};

fuzz_target!(|data: &[u8]| {
    // [field length 1-3][record length 1-4][field][record][text …]
    let [f, r, rest @ ..] = data else { return };
    let (f, r) = (usize::from(f % 3) + 1, usize::from(r % 4) + 1);
    if rest.len() < f + r {
        return;
    }
    let (field, rest) = rest.split_at(f);
    let (record, text) = rest.split_at(r);
    if !field.is_ascii() || !record.is_ascii() || field == record {
        return;
    }
    let t = Terminators { field: field.to_vec(), records: vec![record.to_vec()] };
    let expected = split_terminated(text, &t);
    let mut whole = Records::terminated(text, &t, usize::MAX);
    let mut cut = Records::terminated(text, &t, 2);
    let (mut mine, mut short) = (Record::default(), Record::default());
    for (fields, position) in &expected {
        assert!(whole.read(&mut mine).expect("reading from memory"));
        assert!(cut.read(&mut short).expect("reading from memory"));
        assert_eq!(mine.position(), *position);
        assert!(mine.is_whole());
        let got: Vec<&[u8]> = mine.iter().collect();
        assert_eq!(got, fields.iter().map(Vec::as_slice).collect::<Vec<_>>());
        assert_eq!((short.len(), short.line()), (mine.len(), mine.line()));
        for (i, f) in fields.iter().enumerate() {
            assert_eq!(short.size(i), f.len());
            assert_eq!(short.get(i).unwrap_or_default(), &f[..f.len().min(2)]);
        }
    }
    assert!(!whole.read(&mut mine).expect("reading from memory"));
    assert!(!cut.read(&mut short).expect("reading from memory"));
});
