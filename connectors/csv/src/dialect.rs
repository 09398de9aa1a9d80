//! The shape of a delimited file, sniffed from a sample: the delimiter, the
//! quoting style and the header row (after any preamble lines).

use crate::config::Quoting;

/// Delimiters tried when the mapping says `auto`.
pub const CANDIDATES: &[u8] = b",;\t|";

/// Field counts of the first records of `sample` split by `delimiter`
/// (a last record cut by the sample's end left out).
fn field_counts(sample: &str, delimiter: u8) -> Vec<usize> {
    let mut reader =
        csv::ReaderBuilder::new().delimiter(delimiter).has_headers(false).flexible(true).from_reader(sample.as_bytes());
    let mut counts: Vec<usize> = reader.byte_records().take(500).filter_map(Result::ok).map(|r| r.len()).collect();
    if counts.len() > 1 && !sample.ends_with(['\n', '\r']) {
        counts.pop();
    }
    counts
}

/// The run of consecutive records with the same field count (more than
/// one) that holds the most fields in all (records × fields): where it
/// starts, how many records, and the field count. Title lines and notices
/// above a header differ in shape from the table below, and a preamble of
/// `key;value` lines, however long, holds fewer fields than a few rows of a
/// table; the table is the run. The earlier of two equal runs wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    pub start: usize,
    pub records: usize,
    pub fields: usize,
}

fn consistent_block(counts: &[usize]) -> Option<Block> {
    let mut best: Option<Block> = None;
    let mut at = 0;
    while at < counts.len() {
        let fields = counts[at];
        let len = counts[at..].iter().take_while(|&&c| c == fields).count();
        if fields > 1 && best.is_none_or(|b| len * fields > b.records * b.fields) {
            best = Some(Block { start: at, records: len, fields });
        }
        at += len;
    }
    best
}

/// The delimiter whose consistent block (see [`Block`]) holds the most
/// fields, then has the most records; `,` when none splits any record.
/// Only that block counts, so a preamble of notices (one with commas in
/// it) cannot outvote the table below it.
pub fn sniff_delimiter(sample: &str) -> u8 {
    let mut best = (b',', 0usize, 0usize);
    for &d in CANDIDATES {
        if let Some(b) = consistent_block(&field_counts(sample, d)) {
            let cells = b.records * b.fields;
            if cells > best.1 || (cells == best.1 && b.records > best.2) {
                best = (d, cells, b.records);
            }
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
/// of the longest consistent block (see [`Block`]) whose fields are all
/// named, or the block's first record when none is.
pub fn sniff_header_row(sample: &str, delimiter: u8) -> usize {
    let mut reader =
        csv::ReaderBuilder::new().delimiter(delimiter).has_headers(false).flexible(true).from_reader(sample.as_bytes());
    let records: Vec<Vec<String>> =
        reader.records().take(500).filter_map(Result::ok).map(|r| r.iter().map(str::to_string).collect()).collect();
    header_row(&records)
}

/// [`sniff_header_row`] over records already split.
pub fn header_row(records: &[Vec<String>]) -> usize {
    let counts: Vec<usize> = records.iter().map(Vec::len).collect();
    let Some(block) = consistent_block(&counts) else { return 0 };
    records
        .iter()
        .enumerate()
        .skip(block.start)
        .take(block.records)
        .find(|(_, r)| names_every_column(r))
        .map_or(block.start, |(i, _)| i)
}

/// A record that can be the header: every field named, except empty ones
/// at its end (a header ending with the delimiter), and those at most half
/// of it (`Report;;` above a table is a title, not a header).
fn names_every_column(record: &[String]) -> bool {
    let named = record.iter().rev().skip_while(|f| f.trim().is_empty()).count();
    named >= 1
        && record.iter().take(named).all(|f| !f.trim().is_empty())
        && (named == record.len() || (named >= 2 && named * 2 >= record.len()))
}

/// One way to read a file: a delimiter, the record it would take as the
/// header (after `skip` records, on `line`), and that header's names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub delimiter: u8,
    pub skip: usize,
    pub line: u64,
    pub header: Vec<String>,
}

/// How each delimiter would read `sample`: for `validate` to show when the
/// mapping's columns are mostly missing from the header it sniffed.
pub fn candidates(sample: &str) -> Vec<Candidate> {
    let mut out = Vec::new();
    for &d in CANDIDATES {
        let skip = sniff_header_row(sample, d);
        let mut reader =
            csv::ReaderBuilder::new().delimiter(d).has_headers(false).flexible(true).from_reader(sample.as_bytes());
        let Some(Ok(record)) = reader.records().nth(skip) else { continue };
        if record.len() < 2 {
            continue;
        }
        // The line the record starts on, counted from the bytes. The
        // reader's position is where it began to read, before the blank
        // lines it skipped.
        let mut byte = record.position().map_or(0, |p| p.byte() as usize);
        byte += sample.as_bytes().iter().skip(byte).take_while(|b| matches!(b, b'\r' | b'\n')).count();
        let line = 1 + sample.as_bytes().iter().take(byte).filter(|&&b| b == b'\n').count() as u64;
        let header = record.iter().map(|f| f.trim_start_matches('\u{feff}').trim().to_string()).collect();
        out.push(Candidate { delimiter: d, skip, line, header });
    }
    out
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

    /// A bank export: more notice lines than data rows, one notice with
    /// commas, amounts with decimal commas in every row.
    const BANK: &str = "Umsatzanzeige;Datei erstellt am: 02.12.2026\n\
        \n\
        IBAN;DE00 1234 5678 9012 3456 78\n\
        Kontoname;Girokonto\n\
        Bank;Beispielbank\n\
        Kunde;Erika Mustermann\n\
        Zeitraum;01.11.2026 - 30.11.2026\n\
        Saldo;1.234,56;EUR\n\
        \n\
        In der CSV-Datei finden Sie alle Umsätze, Vormerkungen und Salden des Zeitraums, sortiert nach Datum.\n\
        Hinweis: Beträge mit Komma, Tausender mit Punkt\n\
        Sortierung;Datum absteigend\n\
        \n\
        Buchung;Valuta;Auftraggeber/Empfänger;Buchungstext;Verwendungszweck;Saldo;Währung;Betrag;Währung\n\
        28.11.2026;28.11.2026;Stadtwerke;Lastschrift;Abschlag 11/2026;1.234,56;EUR;-85,00;EUR\n\
        25.11.2026;25.11.2026;Arbeitgeber GmbH;Gehalt;Lohn November;1.319,56;EUR;2.400,00;EUR\n\
        20.11.2026;20.11.2026;Supermarkt;Kartenzahlung;Einkauf;-1.080,44;EUR;-42,10;EUR\n";

    #[test]
    fn a_preamble_with_commas_does_not_outvote_the_table_below_it() {
        assert_eq!(sniff_delimiter(BANK) as char, ';');
        let skip = sniff_header_row(BANK, b';');
        assert_eq!(skip, 10, "ten records above the header (blank lines are none)");
        let (header, rows) = header_and_rows(BANK, b';', Quoting::Rfc4180, skip, 10).unwrap();
        assert_eq!(header[2], "Auftraggeber/Empfänger");
        assert_eq!(rows.len(), 3);
        // The old rule took the modal field count over the whole sample:
        // the 1-field notices outnumber the rows, so `;` had no say.
        let c = candidates(BANK);
        let semicolon = c.iter().find(|c| c.delimiter == b';').unwrap();
        assert_eq!((semicolon.line, semicolon.header.len()), (14, 9));
        let comma = c.iter().find(|c| c.delimiter == b',').unwrap();
        assert_eq!(comma.line, 15, "a data row: its amounts have commas");
    }
}
