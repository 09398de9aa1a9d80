//! The shape of a delimited file, sniffed from a sample: the delimiter, the
//! quoting style and the header row (after any preamble lines).

use crate::config::Quoting;

/// Delimiters tried when the mapping says `auto`.
pub const CANDIDATES: &[u8] = b",;\t|";

/// Field counts of the first records of `sample` split by `delimiter`
/// (the last record, possibly cut by the sample's end, left out).
fn field_counts(sample: &str, delimiter: u8) -> Vec<usize> {
    let mut reader =
        csv::ReaderBuilder::new().delimiter(delimiter).has_headers(false).flexible(true).from_reader(sample.as_bytes());
    let mut counts: Vec<usize> = reader.byte_records().take(101).filter_map(Result::ok).map(|r| r.len()).collect();
    if counts.len() > 1 {
        counts.pop();
    }
    counts
}

/// The most frequent field count and how many records have it.
fn mode(counts: &[usize]) -> (usize, usize) {
    let mut best = (0, 0);
    for &c in counts {
        let n = counts.iter().filter(|&&x| x == c).count();
        if n > best.1 || (n == best.1 && c > best.0) {
            best = (c, n);
        }
    }
    best
}

/// The delimiter that splits the sample into the most consistent number of
/// fields (more than one); `,` when none does.
pub fn sniff_delimiter(sample: &str) -> u8 {
    let mut best = (b',', 0usize, 0usize);
    for &d in CANDIDATES {
        let (fields, records) = mode(&field_counts(sample, d));
        if fields > 1 && (records > best.1 || (records == best.1 && fields > best.2)) {
            best = (d, records, fields);
        }
    }
    best.0
}

/// A reader for `delimiter` and a quoting style (`Auto` reads as RFC 4180).
pub fn reader_builder(delimiter: u8, quoting: Quoting) -> csv::ReaderBuilder {
    let (quotes, escape, double_quote) = quoting.parser_options();
    let mut builder = csv::ReaderBuilder::new();
    builder
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .quoting(quotes)
        .escape(escape)
        .double_quote(double_quote);
    builder
}

/// How a sample's records split under a quoting style: how many have the
/// first record's (the header's) field count, and how many there are.
fn quoting_fit(sample: &str, delimiter: u8, skip: usize, quoting: Quoting) -> (usize, usize) {
    let mut reader = reader_builder(delimiter, quoting).from_reader(sample.as_bytes());
    let mut counts: Vec<usize> =
        reader.byte_records().skip(skip).take(500).filter_map(Result::ok).map(|r| r.len()).collect();
    if counts.len() > 2 && !sample.ends_with(['\n', '\r']) {
        // The last record is cut by the sample's end.
        counts.pop();
    }
    let Some(&width) = counts.first() else { return (0, 0) };
    (counts.iter().filter(|&&c| c == width).count(), counts.len())
}

/// The quoting style under which the fewest of the sample's records miss
/// the header's field count. A style that merges lines into fewer records
/// (an unclosed quote swallowing the lines after it) misses the records it
/// swallowed. RFC 4180 wins ties, then backslash escapes (tried only when
/// the sample has a `\"`), then `none`: quotes as text.
pub fn sniff_quoting(sample: &str, delimiter: u8, skip: usize) -> Quoting {
    let mut styles = vec![Quoting::Rfc4180];
    if sample.contains("\\\"") {
        styles.push(Quoting::Backslash);
    }
    styles.push(Quoting::None);
    let fits: Vec<(Quoting, (usize, usize))> =
        styles.into_iter().map(|q| (q, quoting_fit(sample, delimiter, skip, q))).collect();
    let most = fits.iter().map(|(_, (_, total))| *total).max().unwrap_or(0);
    let mut best = (Quoting::Rfc4180, usize::MAX);
    for (q, (fit, _)) in fits {
        if most - fit < best.1 {
            best = (q, most - fit);
        }
    }
    best.0
}

/// A record's fields as a batch row holds them.
type Row = Vec<Option<String>>;

/// The header record after `skip` records of `sample`, and the rows below
/// it (at most `rows`; a last record cut by the sample's end left out).
pub fn header_and_rows(
    sample: &str,
    delimiter: u8,
    quoting: Quoting,
    skip: usize,
    rows: usize,
) -> Option<(Vec<String>, Vec<Row>)> {
    let mut reader = reader_builder(delimiter, quoting).from_reader(sample.as_bytes());
    let mut records = reader.records().skip(skip).take(rows + 2).filter_map(Result::ok);
    let header: Vec<String> =
        records.next()?.iter().map(|f| f.trim_start_matches('\u{feff}').trim().to_string()).collect();
    let mut below: Vec<Row> = records.map(|r| r.iter().map(|f| Some(f.to_string())).collect()).collect();
    if below.len() > rows || (!below.is_empty() && !sample.ends_with(['\n', '\r'])) {
        below.pop();
    }
    Some((header, below))
}

/// How many records come before the header: the header is the first record
/// that has the modal number of fields, all of them named.
pub fn sniff_header_row(sample: &str, delimiter: u8) -> usize {
    let mut reader =
        csv::ReaderBuilder::new().delimiter(delimiter).has_headers(false).flexible(true).from_reader(sample.as_bytes());
    let records: Vec<csv::StringRecord> = reader.records().take(100).filter_map(Result::ok).collect();
    let (fields, _) = mode(&records.iter().map(csv::StringRecord::len).collect::<Vec<_>>());
    records.iter().position(|r| r.len() == fields && r.iter().all(|f| !f.trim().is_empty())).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiters_are_sniffed() {
        let cases: [(&str, u8); 6] = [
            ("a,b,c\n1,2,3\n4,5,6\n", b','),
            ("a;b;c\n1;2,5;3\n4;5,1;6\n", b';'),
            ("a\tb\n1\t2\n", b'\t'),
            ("a|b|c\n1|2|3\n", b'|'),
            ("Name;Amount\n\"Smith, J\";\"1.234,56\"\n\"Doe, A\";\"12,00\"\n", b';'),
            ("single\nvalue\n", b','),
        ];
        for (sample, expected) in cases {
            assert_eq!(sniff_delimiter(sample) as char, expected as char, "{sample:?}");
        }
    }

    #[test]
    fn quoting_styles_are_sniffed() {
        let cases: [(&str, Quoting); 5] = [
            ("id,name\n1,\"Smith, J\"\n2,\"say \"\"hi\"\"\"\n", Quoting::Rfc4180),
            ("id,name\n1,plain\n2,text\n", Quoting::Rfc4180),
            ("id,name,x\n1,\"say \\\"hi\\\", ok\",a\n2,\"b\",c\n3,d,e\n", Quoting::Backslash),
            // A stray quote opening a field swallows lines under RFC 4180.
            ("id,name,size\n1,\"Big Joe,5\n2,Ann,3\n3,\"Bo,4\n4,Cy,1\n", Quoting::None),
            // An embedded newline in a quoted field is quoting at work.
            ("id,note\n1,\"two\nlines\"\n2,one\n3,\"a, b\"\n", Quoting::Rfc4180),
        ];
        for (sample, expected) in cases {
            assert_eq!(sniff_quoting(sample, b',', 0), expected, "{sample:?}");
        }
    }

    #[test]
    fn a_preamble_before_the_header_is_found() {
        let sample =
            "Customer export\nGenerated 2024-01-01 by CRM 4.2\n\nid;name;email\n1;Ada;a@x.io\n2;Grace;g@x.io\n";
        let d = sniff_delimiter(sample);
        assert_eq!(d, b';');
        assert_eq!(sniff_header_row(sample, d), 2, "two preamble records (the blank line is no record)");
        assert_eq!(sniff_header_row("id,name\n1,Ada\n", b','), 0);
    }
}
