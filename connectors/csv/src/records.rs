//! Records read with bounded memory. The csv crate's reader holds a whole
//! record however large it is: one unterminated quote or a 1 GB field would
//! take that much memory before the field could be refused. This reader
//! runs the same parser (`csv_core`) but keeps at most `keep_bytes` of each
//! field, counting the rest, so an oversized field costs its cap and the
//! record can be rejected with its real size.
//!
//! It also knows the line each record starts on, whatever the line endings
//! (`\n`, `\r\n`, or `\r` alone in old Mac files), by counting breaks in
//! the bytes the parser consumes: nothing is held per line, so a field of
//! a million lines costs nothing more.

use std::io::Read;

use crate::config::Quoting;

/// Kept bytes of one record (all fields together) past which fields are
/// only counted.
const RECORD_KEEP_BYTES: usize = 64 << 20;
/// Fields of one record past which fields are only counted.
const RECORD_KEEP_FIELDS: usize = 1 << 16;
/// Bytes read from the underlying reader at a time.
const INPUT_BYTES: usize = 1 << 16;

/// One record: its fields (each cut to the reader's cap), their real sizes
/// and where it starts in the text.
#[derive(Debug, Default, Clone)]
pub struct Record {
    data: Vec<u8>,
    /// End of each kept field in `data`.
    ends: Vec<usize>,
    /// Each kept field's real size in bytes.
    sizes: Vec<usize>,
    /// Fields in the record, those past `RECORD_KEEP_FIELDS` included.
    fields: usize,
    /// Byte offset of the record in the text (before the previous
    /// record's terminator and any blank lines, as the csv crate counts).
    position: u64,
    /// Line breaks before `position` (a `\r\n` whose `\n` is at
    /// `position` not counted: a reader starting there counts it).
    breaks_before: u64,
    /// The 1-based line of the record's first byte.
    line: u64,
}

impl Record {
    /// Fields in the record (also those not kept).
    pub fn len(&self) -> usize {
        self.fields
    }

    pub fn is_empty(&self) -> bool {
        self.fields == 0
    }

    /// The kept bytes of field `i` (at most the reader's cap).
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { *self.ends.get(i - 1)? };
        self.data.get(start..end)
    }

    /// The real size of field `i` in bytes; fields past those kept count
    /// as empty.
    pub fn size(&self, i: usize) -> usize {
        self.sizes.get(i).copied().unwrap_or(0)
    }

    /// Whether every field was kept whole.
    pub fn is_whole(&self) -> bool {
        self.fields == self.ends.len() && self.sizes.iter().zip(self.field_lens()).all(|(size, kept)| *size == kept)
    }

    fn field_lens(&self) -> impl Iterator<Item = usize> + '_ {
        self.ends.iter().scan(0, |start, end| {
            let len = end - *start;
            *start = *end;
            Some(len)
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.ends.len()).filter_map(|i| self.get(i))
    }

    pub fn position(&self) -> u64 {
        self.position
    }

    pub fn breaks_before(&self) -> u64 {
        self.breaks_before
    }

    pub fn line(&self) -> u64 {
        self.line
    }

    fn clear(&mut self, position: u64, breaks_before: u64) {
        self.ends.clear();
        self.sizes.clear();
        self.fields = 0;
        self.position = position;
        self.breaks_before = breaks_before;
        self.line = breaks_before + 1;
    }
}

/// Reads records from `inner`, keeping at most `keep_bytes` of each field.
pub struct Records<R> {
    inner: R,
    parser: csv_core::Reader,
    /// Set for a terminator-delimited file: the terminators, each with
    /// whether it ends a record, the longest first.
    terminators: Option<Vec<(Vec<u8>, bool)>>,
    keep_bytes: usize,
    input: Box<[u8]>,
    start: usize,
    end: usize,
    eof: bool,
    /// Bytes of text the parser has consumed.
    consumed: u64,
    /// Line breaks in them, and whether the last one was `\r`.
    breaks: u64,
    after_cr: bool,
    /// Output space for the record being read (grown as needed, up to the
    /// caps; only `..filled` of it is the record's).
    out: Vec<u8>,
}

/// Where the record being read stands.
struct Progress {
    /// Bytes the parser has written for this record, as if kept whole.
    written: usize,
    /// Where the current field starts, as the parser counts.
    field_start: usize,
    /// Where the current field starts in the kept data.
    kept_start: usize,
    /// Kept bytes of the record.
    filled: usize,
    /// Whether only line terminators (the previous record's, blank lines)
    /// were consumed so far.
    leading: bool,
    /// Whether no byte was consumed so far.
    first: bool,
}

impl<R: Read> Records<R> {
    pub fn new(inner: R, delimiter: u8, quoting: Quoting, keep_bytes: usize) -> Self {
        let (quotes, escape, double_quote) = quoting.parser_options();
        let mut builder = csv_core::ReaderBuilder::new();
        builder.delimiter(delimiter).quoting(quotes).escape(escape).double_quote(double_quote);
        Self {
            inner,
            parser: builder.build(),
            terminators: None,
            keep_bytes: keep_bytes.max(1),
            input: vec![0; INPUT_BYTES].into_boxed_slice(),
            start: 0,
            end: 0,
            eof: false,
            consumed: 0,
            breaks: 0,
            after_cr: false,
            out: vec![0; 1 << 12],
        }
    }

    /// A reader of a terminator-delimited file (`bcp -t "+|" -r "&|\r\n"`):
    /// records end at a record terminator, fields at the field terminator,
    /// nothing is quoted. A record with no byte in it (two record
    /// terminators in a row) is skipped, as blank lines are.
    pub fn terminated(inner: R, terminators: &crate::config::Terminators, keep_bytes: usize) -> Self {
        let mut list: Vec<(Vec<u8>, bool)> = std::iter::once((terminators.field.clone(), false))
            .chain(terminators.records.iter().map(|r| (r.clone(), true)))
            .collect();
        list.sort_by_key(|(t, _)| std::cmp::Reverse(t.len()));
        Self { terminators: Some(list), ..Self::new(inner, b',', Quoting::None, keep_bytes) }
    }

    /// Reads more input, keeping the unread bytes: `false` at the end.
    fn fill(&mut self) -> std::io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        self.input.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        let n = loop {
            match self.inner.read(&mut self.input[self.end..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        self.end += n;
        self.eof = n == 0;
        Ok(n > 0)
    }

    /// Counts the line breaks of consumed bytes.
    fn count(&mut self, bytes: std::ops::Range<usize>) {
        for i in bytes {
            let b = self.input.get(i).copied().unwrap_or(0);
            if b == b'\r' || (b == b'\n' && !self.after_cr) {
                self.breaks += 1;
            }
            self.after_cr = b == b'\r';
        }
    }

    /// Adds `len` bytes at `from` of the input to the record's last field,
    /// within the caps.
    fn push_bytes(&self, record: &mut Record, field_size: &mut usize, from: usize, len: usize) {
        let kept = *field_size;
        *field_size += len;
        if record.ends.len() >= RECORD_KEEP_FIELDS || record.data.len() >= RECORD_KEEP_BYTES {
            return;
        }
        let room = self.keep_bytes.saturating_sub(kept).min(RECORD_KEEP_BYTES - record.data.len());
        let take = len.min(room);
        record.data.extend_from_slice(self.input.get(from..from + take).unwrap_or_default());
    }

    fn end_field(record: &mut Record, field_size: &mut usize) {
        record.fields += 1;
        if record.ends.len() < RECORD_KEEP_FIELDS {
            record.ends.push(record.data.len());
            record.sizes.push(*field_size);
        }
        *field_size = 0;
    }

    fn read_terminated(&mut self, record: &mut Record) -> std::io::Result<bool> {
        let terminators = self.terminators.clone().unwrap_or_default();
        let longest = terminators.first().map_or(1, |(t, _)| t.len());
        let firsts: Vec<u8> = terminators.iter().filter_map(|(t, _)| t.first().copied()).collect();
        record.data.clear();
        record.clear(self.consumed, self.breaks);
        if self.after_cr && self.input.get(self.start) == Some(&b'\n') {
            record.line = self.breaks;
        }
        let mut field_size = 0usize;
        // Whether the record has a byte yet (an empty one is skipped).
        let mut started = false;
        loop {
            if self.end - self.start < longest && !self.eof {
                self.fill()?;
                continue;
            }
            if self.start == self.end {
                if started {
                    Self::end_field(record, &mut field_size);
                    return Ok(true);
                }
                return Ok(false);
            }
            // Bytes up to the next possible terminator are field text.
            let window = self.input.get(self.start..self.end).unwrap_or_default();
            let run = window.iter().position(|b| firsts.contains(b)).unwrap_or(window.len());
            if run > 0 {
                // No terminator begins with any of these bytes.
                started = true;
                self.push_bytes(record, &mut field_size, self.start, run);
                self.count(self.start..self.start + run);
                self.start += run;
                self.consumed += run as u64;
                continue;
            }
            let window = self.input.get(self.start..self.end).unwrap_or_default();
            let hit = terminators.iter().find(|(t, _)| window.starts_with(t)).map(|(t, ends)| (t.len(), *ends));
            match hit {
                Some((len, ends_record)) => {
                    self.count(self.start..self.start + len);
                    self.start += len;
                    self.consumed += len as u64;
                    if ends_record && !started {
                        // Nothing in it: skip, as blank lines are.
                        record.clear(self.consumed, self.breaks);
                        continue;
                    }
                    started = true;
                    Self::end_field(record, &mut field_size);
                    if ends_record {
                        return Ok(true);
                    }
                }
                None => {
                    started = true;
                    self.push_bytes(record, &mut field_size, self.start, 1);
                    self.count(self.start..self.start + 1);
                    self.start += 1;
                    self.consumed += 1;
                }
            }
        }
    }

    /// Reads the next record into `record`; `false` at the end of the text.
    pub fn read(&mut self, record: &mut Record) -> std::io::Result<bool> {
        use csv_core::ReadRecordResult as R;
        if self.terminators.is_some() {
            return self.read_terminated(record);
        }
        record.clear(self.consumed, self.breaks);
        let mut ends = [0usize; 64];
        let mut p = Progress { written: 0, field_start: 0, kept_start: 0, filled: 0, leading: true, first: true };
        loop {
            if self.start == self.end && !self.eof {
                self.start = 0;
                self.end = loop {
                    match self.inner.read(&mut self.input) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                };
                self.eof = self.end == 0;
            }
            if self.out.len() - p.filled < 1 << 12 {
                let grown = (self.out.len() * 2).max(p.filled + (1 << 12));
                self.out.resize(grown, 0);
            }
            let input = self.input.get(self.start..self.end).unwrap_or_default();
            let output = self.out.get_mut(p.filled..).unwrap_or_default();
            let (result, nin, nout, nend) = self.parser.read_record(input, output, &mut ends);
            self.count_breaks(record, &mut p, nin);
            self.start += nin;
            self.consumed += nin as u64;
            self.keep(record, &mut p, nout, ends.get(..nend).unwrap_or_default());
            match result {
                R::InputEmpty | R::OutputFull | R::OutputEndsFull => {}
                R::Record => {
                    // The record takes the buffer (only `..filled` of it is
                    // its data); its old one is grown when next needed.
                    std::mem::swap(&mut record.data, &mut self.out);
                    return Ok(true);
                }
                R::End => return Ok(false),
            }
        }
    }

    /// Counts the line breaks in the next `nin` input bytes, and places
    /// the record on the line of its first byte that is not a terminator.
    fn count_breaks(&mut self, record: &mut Record, p: &mut Progress, nin: usize) {
        let bytes = self.input.get(self.start..self.start + nin).unwrap_or_default();
        if p.first && !bytes.is_empty() {
            p.first = false;
            if self.after_cr && bytes.first() == Some(&b'\n') {
                record.breaks_before -= 1;
            }
        }
        for &b in bytes {
            if p.leading && b != b'\r' && b != b'\n' {
                p.leading = false;
                record.line = self.breaks + 1;
            }
            if b == b'\r' || (b == b'\n' && !self.after_cr) {
                self.breaks += 1;
            }
            self.after_cr = b == b'\r';
        }
    }

    /// Takes `nout` bytes the parser just wrote at `p.filled` and the field
    /// ends among them: keeps what the caps allow, moves it down over what
    /// they do not, and notes each finished field.
    fn keep(&mut self, record: &mut Record, p: &mut Progress, nout: usize, ends: &[usize]) {
        let mut src = p.filled;
        let mut at = p.written;
        let last = p.written + nout;
        for (i, &end) in ends.iter().chain(std::iter::once(&last)).enumerate() {
            let finished = i < ends.len();
            let seg = end - at;
            let kept_so_far = p.filled - p.kept_start;
            let mut keep = seg.min(self.keep_bytes.saturating_sub(kept_so_far));
            if p.filled + keep > RECORD_KEEP_BYTES || record.ends.len() >= RECORD_KEEP_FIELDS {
                keep = 0;
            }
            if keep > 0 && src != p.filled {
                self.out.copy_within(src..src + keep, p.filled);
            }
            p.filled += keep;
            src += seg;
            at = end;
            if finished {
                record.fields += 1;
                if record.ends.len() < RECORD_KEEP_FIELDS {
                    record.ends.push(p.filled);
                    record.sizes.push(end - p.field_start);
                }
                p.field_start = end;
                p.kept_start = p.filled;
            }
        }
        p.written = last;
    }
}

/// The reference reading of a terminator-delimited text, whole in
/// memory: at each byte the longest terminator that matches there ends a
/// field or a record; records with no byte are skipped. Tests and the fuzz
/// target hold the streaming reader to it.
pub fn split_terminated(text: &[u8], terminators: &crate::config::Terminators) -> Vec<(Vec<Vec<u8>>, u64)> {
    let mut list: Vec<(&[u8], bool)> = std::iter::once((terminators.field.as_slice(), false))
        .chain(terminators.records.iter().map(|r| (r.as_slice(), true)))
        .collect();
    list.sort_by_key(|(t, _)| std::cmp::Reverse(t.len()));
    let mut out = Vec::new();
    let (mut fields, mut field) = (Vec::new(), Vec::new());
    let (mut at, mut start, mut started) = (0, 0u64, false);
    while at < text.len() {
        match list.iter().find(|(t, _)| text[at..].starts_with(t)) {
            Some((t, true)) => {
                at += t.len();
                if started {
                    fields.push(std::mem::take(&mut field));
                    out.push((std::mem::take(&mut fields), start));
                }
                started = false;
                start = at as u64;
            }
            Some((t, false)) => {
                at += t.len();
                started = true;
                fields.push(std::mem::take(&mut field));
            }
            None => {
                started = true;
                field.push(text[at]);
                at += 1;
            }
        }
    }
    if started {
        fields.push(field);
        out.push((fields, start));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &[u8], keep: usize) -> Vec<Record> {
        let mut records = Records::new(text, b',', Quoting::Rfc4180, keep);
        let mut out = Vec::new();
        let mut record = Record::default();
        while records.read(&mut record).unwrap() {
            out.push(record.clone());
        }
        out
    }

    fn fields(r: &Record) -> Vec<String> {
        r.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect()
    }

    #[test]
    fn reads_as_the_csv_crate_does() {
        let text = b"\xEF\xBB\xBFid,name\r\n1,\"Ada, \"\"the\"\" first\"\r\n\r\n2,\"two\nlines\"\n3\n,\n";
        let mine = all(text, 1 << 20);
        let mut theirs = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(&text[..]);
        let mut expected = Vec::new();
        let mut r = csv::ByteRecord::new();
        while theirs.read_byte_record(&mut r).unwrap() {
            let fields: Vec<String> = r.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect();
            expected.push((fields, r.position().map(csv::Position::byte)));
        }
        let got: Vec<_> = mine.iter().map(|r| (fields(r), Some(r.position()))).collect();
        assert_eq!(got, expected);
        let lines: Vec<u64> = mine.iter().map(Record::line).collect();
        assert_eq!(lines, [1, 2, 4, 6, 7]);
        assert!(mine.iter().all(Record::is_whole));
    }

    #[test]
    fn lines_are_counted_for_every_line_ending() {
        for (text, lines) in [
            (&b"a\nb\n\n\nc\n"[..], vec![1, 2, 5]),
            (b"a\r\nb\r\n\r\nc", vec![1, 2, 4]),
            (b"a\rb\r\rc\r", vec![1, 2, 4]),
            (b"\n\na,\"x\r\ny\rz\"\nb", vec![3, 6]),
        ] {
            let got: Vec<u64> = all(text, 8).iter().map(Record::line).collect();
            assert_eq!(got, lines, "{:?}", String::from_utf8_lossy(text));
        }
        // A reader starting at a record counts the `\n` of a `\r\n` there.
        let r = all(b"a\r\nb\r\n", 8);
        assert_eq!((r[1].position(), r[1].breaks_before()), (2, 0));
    }

    #[test]
    fn a_field_over_the_cap_is_cut_and_its_real_size_kept() {
        let big = "x".repeat(100_000);
        let text = format!("a,b,c\n1,\"{big}\",3\n4,5,6\n");
        for keep in [1, 10, 4096, 99_999, 100_000] {
            let records = all(text.as_bytes(), keep);
            assert_eq!(records.len(), 3, "keep {keep}");
            let r = &records[1];
            assert_eq!((r.len(), r.size(1)), (3, 100_000), "keep {keep}");
            assert_eq!(r.get(1).unwrap().len(), keep.min(100_000), "keep {keep}");
            assert_eq!((r.get(0).unwrap(), r.get(2).unwrap()), (&b"1"[..], &b"3"[..]), "keep {keep}");
            assert_eq!(r.is_whole(), keep >= 100_000, "keep {keep}");
            assert_eq!(fields(&records[2]), ["4", "5", "6"], "keep {keep}");
        }
    }

    #[test]
    fn an_unterminated_quote_reads_to_the_end_within_the_cap() {
        let text = format!("a,b\n1,\"{}", "y\n".repeat(50_000));
        let records = all(text.as_bytes(), 64);
        assert_eq!(records.len(), 2);
        assert_eq!((records[1].size(1), records[1].get(1).unwrap().len()), (100_000, 64));
    }

    #[test]
    fn a_record_of_countless_fields_keeps_a_bounded_number() {
        let text = ",".repeat(RECORD_KEEP_FIELDS + 10);
        let records = all(text.as_bytes(), 16);
        assert_eq!(records[0].len(), RECORD_KEEP_FIELDS + 11);
        assert_eq!(records[0].iter().count(), RECORD_KEEP_FIELDS);
        assert!(!records[0].is_whole());
    }
}

#[cfg(test)]
mod terminated {
    use super::*;
    use crate::config::Terminators;

    /// Hands out its text a few bytes at a time, so terminators fall across
    /// reads.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.1 = self.1 % 3 + 1;
            let n = self.1.min(self.0.len()).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn read_all(text: &[u8], t: &Terminators, keep: usize) -> Vec<Record> {
        let mut records = Records::terminated(Trickle(text, 0), t, keep);
        let mut out = Vec::new();
        let mut record = Record::default();
        while records.read(&mut record).unwrap() {
            out.push(record.clone());
        }
        out
    }

    fn bcp() -> Terminators {
        Terminators { field: b"+|".to_vec(), records: vec![b"&|\r\n".to_vec()] }
    }

    #[test]
    fn multi_character_terminators_split_fields_and_records() {
        let text = b"1+|Ada+|a+b|c&|\r\n2+|Line\r\nbreak+|&|\r\n&|\r\n3+|+|last";
        let records = read_all(text, &bcp(), 1 << 20);
        let got: Vec<Vec<String>> =
            records.iter().map(|r| r.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect()).collect();
        assert_eq!(got, [vec!["1", "Ada", "a+b|c"], vec!["2", "Line\r\nbreak", ""], vec!["3", "", "last"]]);
        assert_eq!(records.iter().map(Record::line).collect::<Vec<_>>(), [1, 2, 5]);
        assert_eq!(records.iter().map(Record::position).collect::<Vec<_>>(), [0, 17, 41]);
    }

    #[test]
    fn the_streaming_reader_agrees_with_the_reference_on_every_cut() {
        let cases: Vec<(&[u8], Terminators)> = vec![
            (b"a+|b&|\r\nc+|d&|\r\n", bcp()),
            (b"+|&|\r\n+|+|&|&|\r\n&&||++", bcp()),
            (b"x|y|\ny|z|\n", Terminators { field: b"|".to_vec(), records: vec![b"|\n".to_vec()] }),
            (
                b"a\tb\r\nc\td\ne\r",
                Terminators { field: b"\t".to_vec(), records: vec![b"\r\n".to_vec(), b"\n".to_vec()] },
            ),
            (b"ab~~cd~~~~ef~~~", Terminators { field: b"~".to_vec(), records: vec![b"~~".to_vec()] }),
        ];
        for (text, t) in cases {
            let expected = split_terminated(text, &t);
            let got: Vec<(Vec<Vec<u8>>, u64)> = read_all(text, &t, 1 << 20)
                .iter()
                .map(|r| (r.iter().map(<[u8]>::to_vec).collect(), r.position()))
                .collect();
            assert_eq!(got, expected, "{:?}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn random_texts_read_as_the_reference_reads_them() {
        // Texts made of terminator bytes and a letter, so terminators
        // overlap, repeat and fall across the trickled reads.
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabet = b"+|&\r\na";
        let sets = [
            bcp(),
            Terminators { field: b"|".to_vec(), records: vec![b"|\r\n".to_vec()] },
            Terminators { field: b"+|".to_vec(), records: vec![b"\r\n".to_vec(), b"\n".to_vec()] },
            Terminators { field: b"&".to_vec(), records: vec![b"&&".to_vec()] },
        ];
        for _ in 0..3000 {
            let len = (next() % 40) as usize;
            let text: Vec<u8> = (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect();
            let t = &sets[(next() % sets.len() as u64) as usize];
            let expected = split_terminated(&text, t);
            let got: Vec<(Vec<Vec<u8>>, u64)> = read_all(&text, t, 1 << 20)
                .iter()
                .map(|r| (r.iter().map(<[u8]>::to_vec).collect(), r.position()))
                .collect();
            assert_eq!(got, expected, "{:?} with {:?}", String::from_utf8_lossy(&text), t);
        }
    }

    #[test]
    fn a_huge_field_costs_its_cap() {
        let big = "x".repeat(200_000);
        let text = format!("1+|{big}&|\r\n2+|b&|\r\n");
        let records = read_all(text.as_bytes(), &bcp(), 16);
        assert_eq!(records.len(), 2);
        assert_eq!((records[0].size(1), records[0].get(1).unwrap().len()), (200_000, 16));
        assert!(!records[0].is_whole());
        assert!(records[1].is_whole());
    }
}
