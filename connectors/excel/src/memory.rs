//! What reading a workbook holds in memory, bounded before and while it is
//! read: the parts held whole are measured first (their real unpacked size,
//! not the size the zip declares), and rows in flight are counted in bytes.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::{Condvar, Mutex, PoisonError};

use crate::error::ExcelError;

/// Text of the rows between the reader thread and the batches, at most.
pub(crate) const CHANNEL_BYTES: usize = 16 << 20;

/// Bytes one shared string costs besides its text: its slot in the table
/// and its allocation.
const PER_STRING: u64 = 64;

/// Bytes one string the table declares (`uniqueCount`) costs before any
/// is read: the table is sized by it.
const PER_DECLARED: u64 = 24;

/// How many times its unpacked size a part read whole takes in memory:
/// binary shared strings (UTF-16, a few bytes of record each), whole
/// sheets of cells, and the small parts (styles, the workbook, its
/// relationships).
const BINARY_STRINGS: u64 = 8;
const WHOLE_SHEETS: u64 = 3;
const SMALL_PARTS: u64 = 2;

/// Bytes one cell of an ods sheet takes once read: calamine holds every
/// sheet as a dense grid over the box its cells span (a value and a
/// formula slot per cell), whatever the file's size.
const PER_GRID_CELL: u64 = 56;

/// The largest sheet an ods may describe (calamine's caps).
const ODS_ROWS: u64 = 1_048_576;
const ODS_COLUMNS: u64 = 16_384;

/// A reader that fails once more than `cap` bytes came through it.
struct Capped<R> {
    inner: R,
    read: u64,
    cap: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.cap {
            return Err(std::io::Error::other("over the cap"));
        }
        Ok(n)
    }
}

/// The parts of a zip-based workbook that calamine holds whole, and how
/// each is priced.
enum Held {
    XmlStrings,
    BinaryStrings,
    Small,
    Sheets,
    OdsContent,
}

fn held(ext: &str, name: &str) -> Option<Held> {
    let name = name.to_ascii_lowercase();
    let base = name.rsplit('/').next().unwrap_or_default();
    match ext {
        "xlsx" | "xlsm" | "xlsb" if base == "sharedstrings.xml" => Some(Held::XmlStrings),
        "xlsx" | "xlsm" | "xlsb" if base == "sharedstrings.bin" => Some(Held::BinaryStrings),
        "xlsx" | "xlsm" | "xlsb" => (matches!(base, "styles.xml" | "styles.bin" | "workbook.xml" | "workbook.bin")
            || base.ends_with(".rels"))
        .then_some(Held::Small),
        "ods" if base == "content.xml" => Some(Held::OdsContent),
        "ods" => matches!(base, "styles.xml" | "settings.xml").then_some(Held::Sheets),
        _ => None,
    }
}

/// Refuses a workbook whose parts held whole would take more than `max`
/// bytes of memory: the shared strings of xlsx, xlsm and xlsb (their text,
/// per string, and the count the table declares), all of an ods or xls.
/// Each part is unpacked once, streamed and stopped at the cap.
pub(crate) fn check_memory(path: &Path, ext: &str, size: u64, max: u64) -> Result<(), ExcelError> {
    let file = path.display().to_string();
    let over = |what: String, estimate: u64| ExcelError::Memory { file: file.clone(), what, estimate, max };
    if ext == "xls" {
        let grid = xls_grid(path).unwrap_or(0);
        let estimate = size.saturating_mul(WHOLE_SHEETS).saturating_add(grid.saturating_mul(PER_GRID_CELL));
        return if estimate > max {
            Err(over(format!("the workbook is read whole: {size} bytes, sheets spanning {grid} cells"), estimate))
        } else {
            Ok(())
        };
    }
    if !matches!(ext, "xlsx" | "xlsm" | "xlsb" | "ods") {
        return Ok(());
    }
    let open = File::open(path).map_err(|e| ExcelError::Open { path: path.to_path_buf(), message: e.to_string() })?;
    let mut archive = zip::ZipArchive::new(BufReader::new(open))
        .map_err(|e| ExcelError::Open { path: path.to_path_buf(), message: format!("not a valid workbook: {e}") })?;
    let mut total = 0u64;
    for i in 0..archive.len() {
        let name = archive.name_for_index(i).and_then(Result::ok).map(|n| n.to_string()).unwrap_or_default();
        let Some(kind) = held(ext, &name) else { continue };
        let part = archive.by_index(i).map_err(|e| ExcelError::Read { file: file.clone(), message: e.to_string() })?;
        let factor = match kind {
            Held::XmlStrings => 1,
            Held::BinaryStrings => BINARY_STRINGS,
            Held::Sheets | Held::OdsContent => WHOLE_SHEETS,
            Held::Small => SMALL_PARTS,
        };
        let left = max.saturating_sub(total);
        let mut capped = Capped { inner: part, read: 0, cap: left / factor };
        let (cost, what) = match kind {
            Held::XmlStrings => {
                let (strings, declared) = count_strings(&mut capped);
                let cost = capped
                    .read
                    .saturating_add(strings.saturating_mul(PER_STRING))
                    .saturating_add(declared.saturating_mul(PER_DECLARED));
                (cost, format!("{name}: {} bytes unpacked, {strings} strings, {declared} declared", capped.read))
            }
            Held::OdsContent => {
                let grid = grid_cells(&mut capped);
                let cost = capped.read.saturating_mul(WHOLE_SHEETS).saturating_add(grid.saturating_mul(PER_GRID_CELL));
                (cost, format!("{name}: {} bytes unpacked, sheets spanning {grid} cells", capped.read))
            }
            _ => {
                let _ = std::io::copy(&mut capped, &mut std::io::sink());
                (capped.read.saturating_mul(factor), format!("{name}: {} bytes unpacked", capped.read))
            }
        };
        total = total.saturating_add(cost);
        if capped.read > capped.cap || total > max {
            let what = if capped.read > capped.cap { format!("{what} when reading stopped") } else { what };
            return Err(over(what, total));
        }
    }
    Ok(())
}

/// The `<si>` entries of a shared-strings part, and the `uniqueCount` its
/// `<sst>` declares. Reading stops at the first error (the cap, or XML
/// that calamine then reports itself).
fn count_strings(part: &mut impl Read) -> (u64, u64) {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(BufReader::new(part));
    let mut buf = Vec::new();
    let (mut strings, mut declared) = (0u64, 0u64);
    loop {
        buf.clear();
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e) | Event::Empty(e)) => match e.local_name().as_ref() {
                "si" => strings += 1,
                "sst" => {
                    let count = e.attributes().flatten().find(|a| a.key.local_name().as_ref() == "uniqueCount");
                    declared = count.and_then(|a| a.value.trim().parse().ok()).unwrap_or(0);
                }
                _ => {}
            },
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => {}
        }
    }
    (strings, declared)
}

/// The cells of the dense grids calamine builds for an ods: per sheet, the
/// box from its first to its last non-empty cell, rows and columns
/// repeated as the file says (`number-rows-repeated`,
/// `number-columns-repeated`), so a few bytes describing a far corner
/// count what they would take.
fn grid_cells(part: &mut impl Read) -> u64 {
    use quick_xml::events::{BytesStart, Event};
    fn repeated(e: &BytesStart, name: &str) -> u64 {
        e.attributes()
            .flatten()
            .find(|a| a.key.local_name().as_ref() == name)
            .and_then(|a| a.value.trim().parse().ok())
            .unwrap_or(1)
    }
    let mut reader = quick_xml::Reader::from_reader(BufReader::new(part));
    let mut buf = Vec::new();
    let mut total = 0u64;
    // The sheet being read: rows before the current one, the current
    // row's first row and repeat, its next column, and the box of
    // non-empty cells (top, bottom, left, right).
    let (mut row, mut repeat, mut col) = (0u64, 1u64, 0u64);
    let mut span = Span::default();
    loop {
        buf.clear();
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) => match e.local_name().as_ref() {
                "table" => (row, span) = (0, Span::default()),
                "table-row" => (repeat, col) = (repeated(&e, "number-rows-repeated"), 0),
                // A cell with content: its value, text or formula follows.
                "table-cell" | "covered-table-cell" => {
                    let across = repeated(&e, "number-columns-repeated");
                    let rows = (row.min(ODS_ROWS - 1), (row + repeat - 1).min(ODS_ROWS - 1));
                    span.cover(rows, (col.min(ODS_COLUMNS - 1), (col + across - 1).min(ODS_COLUMNS - 1)));
                    col = col.saturating_add(across);
                }
                _ => {}
            },
            Ok(Event::Empty(e)) => match e.local_name().as_ref() {
                "table-cell" | "covered-table-cell" => {
                    col = col.saturating_add(repeated(&e, "number-columns-repeated"))
                }
                "table-row" => row = row.saturating_add(repeated(&e, "number-rows-repeated")),
                _ => {}
            },
            Ok(Event::End(e)) => match e.local_name().as_ref() {
                "table-row" => row = row.saturating_add(repeat),
                "table" => total = total.saturating_add(std::mem::take(&mut span).cells()),
                _ => {}
            },
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => {}
        }
    }
    total.saturating_add(span.cells())
}

/// The cells of the dense grids calamine builds for an xls (every sheet,
/// at open): per worksheet, the box its cell records span. The records
/// are read from the workbook stream (BIFF8 `Workbook`, BIFF5 `Book`);
/// `None` when it cannot be read (calamine then says why).
fn xls_grid(path: &Path) -> Option<u64> {
    let mut book = cfb::open(path).ok()?;
    let stream = if book.exists("/Workbook") { "/Workbook" } else { "/Book" };
    let mut records = BufReader::new(book.open_stream(stream).ok()?);
    let mut total = 0u64;
    // The worksheet being read, if one is.
    let mut sheet: Option<Span> = None;
    let mut body = Vec::new();
    loop {
        let mut head = [0u8; 4];
        if records.read_exact(&mut head).is_err() {
            break;
        }
        let kind = u16::from_le_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_le_bytes([head[2], head[3]]));
        body.resize(len, 0);
        if records.read_exact(&mut body).is_err() {
            break;
        }
        let word = |at: usize| body.get(at..at + 2).map(|b| u64::from(u16::from_le_bytes([b[0], b[1]])));
        match kind {
            // BOF: a worksheet (0x0010) starts.
            0x0809 => sheet = (word(2) == Some(0x0010)).then(Span::default),
            // EOF: the sheet's box is counted.
            0x000A => total = total.saturating_add(sheet.take().map_or(0, Span::cells)),
            // Cells: FORMULA, LABELSST, NUMBER, RK, BOOLERR, LABEL, BLANK,
            // RSTRING (row, column), and MULRK, MULBLANK (row, first
            // column, …, last column).
            0x0006 | 0x00FD | 0x0203 | 0x027E | 0x0205 | 0x0204 | 0x0201 | 0x00D6 | 0x00BD | 0x00BE => {
                let (Some(row), Some(first)) = (word(0), word(2)) else { continue };
                let last = if matches!(kind, 0x00BD | 0x00BE) {
                    len.checked_sub(2).and_then(word).unwrap_or(first)
                } else {
                    first
                };
                if let Some(span) = sheet.as_mut() {
                    span.cover((row, row), (first.min(last), first.max(last)));
                }
            }
            _ => {}
        }
    }
    Some(total.saturating_add(sheet.map_or(0, Span::cells)))
}

/// The box a sheet's filled cells span (first and last row, first and
/// last column): the dense grid calamine builds over them.
#[derive(Default, Clone, Copy)]
struct Span(Option<(u64, u64, u64, u64)>);

impl Span {
    /// Widens the box to hold the cells of `rows` × `columns` (inclusive).
    fn cover(&mut self, rows: (u64, u64), columns: (u64, u64)) {
        let ((top, bottom), (left, right)) = (rows, columns);
        self.0 =
            Some(self.0.map_or((top, bottom, left, right), |(t, b, l, r)| {
                (t.min(top), b.max(bottom), l.min(left), r.max(right))
            }));
    }

    fn cells(self) -> u64 {
        self.0.map_or(0, |(t, b, l, r)| (b - t + 1).saturating_mul(r - l + 1))
    }
}

/// Bounds the text of rows in flight from the reader thread: the reader
/// waits while [`CHANNEL_BYTES`] are held (a row larger than that passes
/// alone), the batches release what they take.
#[derive(Default)]
pub(crate) struct Gate {
    /// Bytes held, and whether the receiving side is gone.
    state: Mutex<(usize, bool)>,
    freed: Condvar,
}

impl Gate {
    /// Waits for room for `bytes`; false once the receiver is gone.
    pub(crate) fn admit(&self, bytes: usize) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        while state.0 > 0 && state.0.saturating_add(bytes) > CHANNEL_BYTES && !state.1 {
            state = self.freed.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
        if state.1 {
            return false;
        }
        state.0 = state.0.saturating_add(bytes);
        true
    }

    pub(crate) fn release(&self, bytes: usize) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.0 = state.0.saturating_sub(bytes);
        self.freed.notify_all();
    }

    /// The receiver is gone: a waiting reader stops.
    pub(crate) fn close(&self) {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).1 = true;
        self.freed.notify_all();
    }
}

/// Closes its gate when dropped: held by the receiving side.
pub(crate) struct Closing(pub(crate) std::sync::Arc<Gate>);

impl Drop for Closing {
    fn drop(&mut self) {
        self.0.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_strings_are_counted_and_their_declared_count_read() {
        let xml = b"<?xml version=\"1.0\"?><x:sst xmlns:x=\"m\" count=\"3\" uniqueCount=\"1000000000000\">\
            <x:si><x:t>a</x:t></x:si><x:si><x:r><x:t>b</x:t></x:r></x:si><x:si/></x:sst>";
        assert_eq!(count_strings(&mut &xml[..]), (3, 1_000_000_000_000));
    }

    #[test]
    fn an_ods_grid_spans_its_first_to_its_last_filled_cell_with_repeats() {
        let cell = "<table:table-cell office:value-type=\"string\"><text:p>x</text:p></table:table-cell>";
        // A1 filled, then 1,000 empty rows, then a row whose filled cell
        // lies 99 columns right: 1,002 rows by 100 columns. Trailing
        // empties (as LibreOffice writes them) add nothing.
        let xml = format!(
            "<table:table><table:table-row>{cell}<table:table-cell table:number-columns-repeated=\"1023\"/></table:table-row>\
             <table:table-row table:number-rows-repeated=\"1000\"><table:table-cell table:number-columns-repeated=\"1024\"/></table:table-row>\
             <table:table-row><table:table-cell table:number-columns-repeated=\"99\"/>{cell}</table:table-row>\
             <table:table-row table:number-rows-repeated=\"1048000\"><table:table-cell/></table:table-row></table:table>\
             <table:table><table:table-row>{cell}</table:table-row></table:table>"
        );
        assert_eq!(grid_cells(&mut xml.as_bytes()), 1002 * 100 + 1);
    }

    #[test]
    fn the_gate_holds_the_reader_until_bytes_are_released() {
        let gate = std::sync::Arc::new(Gate::default());
        assert!(gate.admit(CHANNEL_BYTES), "a row alone always passes");
        let waiting = {
            let gate = gate.clone();
            std::thread::spawn(move || gate.admit(10))
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!waiting.is_finished(), "no room: the reader waits");
        gate.release(CHANNEL_BYTES);
        assert!(waiting.join().unwrap());
        let closed = {
            let gate = gate.clone();
            std::thread::spawn(move || gate.admit(CHANNEL_BYTES))
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        gate.close();
        assert!(!closed.join().unwrap(), "a closed gate lets the reader stop");
    }
}
