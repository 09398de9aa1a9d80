use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use async_trait::async_trait;
use calamine::{Dimensions, Reader, Xlsb, Xlsx, open_workbook, open_workbook_auto};
use migrate_engine::{
    Batch, MalformedRow, RejectReason, SkipRows, Source, SourceError, SourceInfo, SourceLocation, SourceNote,
};
use sha2::{Digest, Sha256};

use crate::cell::{CellText, column_letters, from_data, from_ref};
use crate::config::{CellRange, ExcelSourceConfig, Merged, SheetRef};
use crate::error::ExcelError;
use crate::memory::{Closing, Gate, check_memory};

/// Rows in flight between the reader thread and the batches (and at most
/// [`crate::memory::CHANNEL_BYTES`] of their text).
const CHANNEL_ROWS: usize = 4096;

/// Text of one row, at most: no spreadsheet row holds more (Excel's cells
/// hold 32,767 characters, of at most 16,384 columns), so a row over it
/// is a hostile file, refused.
const MAX_ROW_BYTES: usize = 16 << 20;

/// A row's cells by column (0-based).
type Cells = Vec<(u32, CellText)>;

/// The text a row's cells hold.
fn row_bytes(cells: &[(u32, CellText)]) -> usize {
    cells.iter().map(|(_, t)| text_bytes(t)).sum()
}

fn text_bytes(text: &CellText) -> usize {
    match text {
        CellText::Value(v) | CellText::Error(v) | CellText::Invalid(v) => v.len(),
        CellText::Empty => 0,
    }
}

/// The next message, its row's bytes released from the gate.
fn receive(rows: &Receiver<Msg>, gate: &Gate) -> Result<Msg, std::sync::mpsc::RecvError> {
    let msg = rows.recv()?;
    if let Msg::Row(_, cells, _) = &msg {
        gate.release(row_bytes(cells));
    }
    Ok(msg)
}

enum Msg {
    /// The sheet being read, and every sheet of the workbook.
    Sheet(String, Vec<String>),
    /// A sheet row (0-based), its cells by column (0-based), and the
    /// columns whose cell is a merged region's copy of its first cell.
    Row(u32, Vec<(u32, CellText)>, Vec<u32>),
    End {
        bytes: u64,
        sha256: String,
    },
    Failed(ExcelError),
}

pub struct ExcelSource {
    file: Arc<str>,
    sheet: Arc<str>,
    sheets: Vec<String>,
    header: Vec<String>,
    /// The letter rows are located by: the range's left column, else A.
    first_column: String,
    /// The range's left column (0-based), to name cells in messages.
    left: u32,
    rows: Receiver<Msg>,
    batch_size: usize,
    header_notes: Vec<SourceNote>,
    read: u64,
    done: Option<(u64, String)>,
    /// Rows read ahead of the batches (to judge the header, or to learn the
    /// width of a sheet without one), delivered first.
    pending: VecDeque<Msg>,
    header_info: migrate_engine::HeaderInfo,
    /// The sheet's last row (0-based) once the reader knows it, else
    /// `UNKNOWN_EXTENT`; and the header's row and the last row delivered:
    /// the progress bar's rows done, of how many.
    extent: Arc<AtomicU32>,
    header_row: u32,
    at_row: u32,
    /// `skip_rows = "auto"` found the header (a decision for the report).
    header_found: bool,
    /// The bytes of rows the reader has sent and the batches not taken;
    /// closed when the source is dropped, so a waiting reader stops.
    gate: Closing,
}

/// The sheet does not declare its size (no `<dimension>`).
const UNKNOWN_EXTENT: u32 = u32::MAX;

fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or_default());
        bytes += n as u64;
    }
    Ok((bytes, hex::encode(hasher.finalize())))
}

/// A row's cells as values by column (0-based), empty cells and errors
/// as `None`.
fn row_values(cells: &[(u32, CellText)]) -> Vec<Option<String>> {
    let width = cells.iter().map(|(c, _)| *c as usize + 1).max().unwrap_or(0);
    let mut values = vec![None; width];
    for (col, text) in cells {
        if let (Some(slot), CellText::Value(v)) = (values.get_mut(*col as usize), text) {
            *slot = Some(v.clone());
        }
    }
    values
}

fn pick_sheet(names: &[String], wanted: Option<&SheetRef>, file: &str) -> Result<String, ExcelError> {
    let found = match wanted {
        None => names.first().cloned(),
        Some(SheetRef::Name(n)) => names.iter().find(|s| *s == n).cloned(),
        Some(SheetRef::Index(i)) => i.checked_sub(1).and_then(|i| names.get(i)).cloned(),
    };
    found.ok_or_else(|| ExcelError::NoSheet {
        file: file.to_string(),
        wanted: match wanted {
            Some(SheetRef::Name(n)) => format!("{n:?}"),
            Some(SheetRef::Index(i)) => format!("number {i}"),
            None => "at all".to_string(),
        },
        available: names.join(", "),
    })
}

/// The Excel version of a `.xls` written before Excel 97 (`2.x`, `3.x`,
/// `4.x`): a bare BIFF2–4 stream, which starts with its BOF record instead
/// of the OLE container every later `.xls` is in.
fn old_biff(path: &Path) -> Option<&'static str> {
    let mut head = [0u8; 2];
    File::open(path).ok()?.read_exact(&mut head).ok()?;
    match head {
        [0x09, 0x00] => Some("2.x"),
        [0x09, 0x02] => Some("3.x"),
        [0x09, 0x04] => Some("4.x"),
        _ => None,
    }
}

/// A part compressed more than this many times over is a zip bomb.
const MAX_RATIO: u64 = 1000;

/// Checks the sizes a zip-based workbook declares before anything unpacks.
fn check_zip(path: &Path, max_total: u64) -> Result<(), ExcelError> {
    let file = path.display().to_string();
    let open = File::open(path).map_err(|e| ExcelError::Open { path: path.to_path_buf(), message: e.to_string() })?;
    let mut archive = zip::ZipArchive::new(BufReader::new(open))
        .map_err(|e| ExcelError::Open { path: path.to_path_buf(), message: format!("not a valid workbook: {e}") })?;
    let mut total = 0u64;
    for i in 0..archive.len() {
        let part =
            archive.by_index_raw(i).map_err(|e| ExcelError::Read { file: file.clone(), message: e.to_string() })?;
        let (size, compressed) = (part.size(), part.compressed_size());
        total = total.saturating_add(size);
        let why = if size > (10 << 20) && size / compressed.max(1) > MAX_RATIO {
            Some(format!("more than {MAX_RATIO}× its compressed size"))
        } else if total > max_total {
            Some(format!("the parts add up to more than max_unpacked_bytes = {max_total}"))
        } else {
            None
        };
        if let Some(why) = why {
            return Err(ExcelError::Unpacked {
                file,
                part: part.name().map(|n| n.to_string()).unwrap_or_default(),
                size,
                compressed,
                why,
            });
        }
    }
    Ok(())
}

/// Shapes rows before they are sent: keeps the range's cells (columns
/// counted from its left edge) and fills merged regions on request.
struct Rows {
    range: Option<CellRange>,
    /// Where the reader tells the source the sheet's last row.
    extent: Arc<AtomicU32>,
    /// The first row not sent yet (rows before it are sent or empty).
    next_row: u32,
    /// Merged regions with the value of their top-left cell, once read.
    merged: Vec<(Dimensions, Option<CellText>)>,
    tx: SyncSender<Msg>,
    gate: Arc<Gate>,
}

impl Rows {
    fn new(
        range: Option<CellRange>,
        merged: Vec<(Dimensions, Option<CellText>)>,
        extent: &Arc<AtomicU32>,
        tx: &SyncSender<Msg>,
        gate: &Arc<Gate>,
    ) -> Self {
        Self { range, merged, extent: extent.clone(), next_row: 0, tx: tx.clone(), gate: gate.clone() }
    }

    /// The sheet's last row, within the range when there is one.
    fn tell_extent(&self, last_row: u32) {
        let last = self.range.map_or(last_row, |r| last_row.min(r.bottom));
        self.extent.store(last, Ordering::Relaxed);
    }

    /// Sends `row`, after any rows above it that only merged regions
    /// fill. False when the receiver is gone or the range is passed.
    fn send(&mut self, row: u32, cells: Vec<(u32, CellText)>) -> bool {
        self.fill_up_to(row) && self.send_one(row, cells)
    }

    /// After the sheet's last row: the rows below it that merged regions
    /// still cover.
    fn finish(&mut self) -> bool {
        let last = self.merged.iter().filter(|(_, v)| v.is_some()).map(|(d, _)| d.end.0).max();
        match last {
            Some(last) => self.fill_up_to(last.saturating_add(1)),
            None => true,
        }
    }

    /// Rows from the next one to send up to `before` (excluded) that hold
    /// no cell of their own but lie in a merged region with a value: each
    /// is a row of the region's value (`merged = "fill"`).
    fn fill_up_to(&mut self, before: u32) -> bool {
        while self.next_row < before {
            let q = self.next_row;
            let covered = self.merged.iter().any(|(d, v)| v.is_some() && d.start.0 < q && q <= d.end.0);
            if covered {
                if !self.send_one(q, Vec::new()) {
                    return false;
                }
            } else {
                // Jump to the next covered row, if any lies before `before`.
                let next = self
                    .merged
                    .iter()
                    .filter(|(d, v)| v.is_some() && d.end.0 > q)
                    .map(|(d, _)| d.start.0.saturating_add(1).max(q + 1))
                    .min()
                    .unwrap_or(before);
                self.next_row = next.min(before).max(q + 1);
            }
        }
        true
    }

    fn send_one(&mut self, row: u32, mut cells: Vec<(u32, CellText)>) -> bool {
        self.next_row = self.next_row.max(row.saturating_add(1));
        let mut filled = Vec::new();
        for (region, value) in &mut self.merged {
            if let Some((_, v)) = cells.iter().find(|(c, _)| region.start == (row, *c)) {
                *value = Some(v.clone());
            }
            if let Some(v) = value.as_ref()
                && (region.start.0..=region.end.0).contains(&row)
            {
                for col in region.start.1..=region.end.1 {
                    if !cells.iter().any(|(c, _)| *c == col) {
                        cells.push((col, v.clone()));
                        filled.push(col);
                    }
                }
            }
        }
        cells.sort_by_key(|(c, _)| *c);
        if let Some(r) = self.range {
            if row > r.bottom {
                return false;
            }
            if row < r.top {
                return true;
            }
            cells = cells
                .into_iter()
                .filter(|(c, _)| (r.left..=r.right).contains(c))
                .map(|(c, v)| (c - r.left, v))
                .collect();
            filled = filled.into_iter().filter(|c| (r.left..=r.right).contains(c)).map(|c| c - r.left).collect();
            if cells.is_empty() {
                return true;
            }
        }
        self.gate.admit(row_bytes(&cells)) && self.tx.send(Msg::Row(row, cells, filled)).is_ok()
    }
}

/// Streams one sheet's cells into `rows`, a row at a time: xlsx, xlsm and
/// xlsb alike. `next` gives the cells in file order. The text of all rows
/// (a shared string counted at each use) may be at most `max_text`.
fn stream_cells<'a>(
    rows: &mut Rows,
    max_text: u64,
    declared: Dimensions,
    mut next: impl FnMut() -> Result<Option<calamine::Cell<calamine::DataRef<'a>>>, String>,
    file: &str,
    sheet: &str,
) -> Result<(), ExcelError> {
    // The size the sheet declares (a writer may leave it out).
    if declared.end.0 > 0 {
        rows.tell_extent(declared.end.0);
    }
    let cut = |row: Option<u32>, e: String| {
        let after = row.map_or_else(|| "before its first row".to_string(), |r| format!("after row {}", r + 1));
        ExcelError::Read {
            file: file.to_string(),
            message: format!("sheet {sheet:?} cannot be read {after}: its XML is cut short or malformed ({e})"),
        }
    };
    // The row being read: its number, its cells, their bytes.
    let mut current: Option<(u32, Cells, usize)> = None;
    let mut last_row = None;
    let mut total = 0u64;
    while let Some(cell) = next().map_err(|e| cut(last_row, e))? {
        let (row, col) = cell.get_position();
        last_row = Some(row);
        let text = from_ref(cell.get_value());
        if text == CellText::Empty {
            continue;
        }
        let bytes = text_bytes(&text);
        total = total.saturating_add(bytes as u64);
        if total > max_text {
            return Err(ExcelError::TooMuchText {
                file: file.to_string(),
                sheet: sheet.to_string(),
                row: row + 1,
                max: max_text,
            });
        }
        match &mut current {
            Some((r, cells, held)) if *r == row => {
                cells.push((col, text));
                *held += bytes;
                if *held > MAX_ROW_BYTES {
                    return Err(ExcelError::RowTooLarge {
                        file: file.to_string(),
                        sheet: sheet.to_string(),
                        row: row + 1,
                        bytes: *held,
                        max: MAX_ROW_BYTES,
                    });
                }
            }
            _ => {
                if let Some((r, done, _)) = current.take()
                    && !rows.send(r, done)
                {
                    return Ok(());
                }
                current = Some((row, vec![(col, text)], bytes));
            }
        }
    }
    if let Some((r, done, _)) = current {
        rows.send(r, done);
    }
    rows.finish();
    Ok(())
}

/// Picks the sheet to read and tells the source, with every sheet's name;
/// `None` when the source is gone.
fn announce(
    names: Vec<String>,
    config: &ExcelSourceConfig,
    file: &str,
    tx: &SyncSender<Msg>,
) -> Result<Option<String>, ExcelError> {
    let sheet = pick_sheet(&names, config.sheet.as_ref(), file)?;
    Ok(tx.send(Msg::Sheet(sheet.clone(), names)).is_ok().then_some(sheet))
}

/// Reads the sheet on its own thread, sending rows as they complete.
fn read_workbook(
    path: PathBuf,
    config: ExcelSourceConfig,
    tx: SyncSender<Msg>,
    extent: Arc<AtomicU32>,
    gate: Arc<Gate>,
) {
    let file = path.display().to_string();
    let fail = |message: String| ExcelError::Read { file: file.clone(), message };
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
    let range = config.range.as_deref().and_then(CellRange::parse);
    let result = (|| -> Result<(), ExcelError> {
        let (bytes, sha256) =
            hash_file(&path).map_err(|e| ExcelError::Open { path: path.clone(), message: e.to_string() })?;
        if matches!(ext.as_str(), "xlsx" | "xlsm" | "xlsb" | "ods") {
            check_zip(&path, config.max_unpacked_bytes)?;
        }
        check_memory(&path, &ext, bytes, config.max_memory_bytes)?;
        if matches!(ext.as_str(), "xlsx" | "xlsm") {
            let mut book: Xlsx<_> = open_workbook(&path)
                .map_err(|e: calamine::XlsxError| ExcelError::Open { path: path.clone(), message: e.to_string() })?;
            let Some(sheet) = announce(book.sheet_names(), &config, &file, &tx)? else { return Ok(()) };
            let merged = match config.merged {
                Merged::Fill => book
                    .merge_cells_by_sheet_name(&sheet)
                    .map_err(|e| fail(e.to_string()))?
                    .into_iter()
                    .map(|d| (d, None))
                    .collect(),
                Merged::Empty => Vec::new(),
            };
            let mut rows = Rows::new(range, merged, &extent, &tx, &gate);
            let mut cells = book.worksheet_cells_reader(&sheet).map_err(|e| fail(e.to_string()))?;
            let declared = cells.dimensions();
            let next = || cells.next_cell().map_err(|e| e.to_string());
            stream_cells(&mut rows, config.max_unpacked_bytes, declared, next, &file, &sheet)?;
        } else if ext == "xlsb" {
            if config.merged == Merged::Fill {
                return Err(ExcelError::MergedFill { file: file.clone() });
            }
            let mut book: Xlsb<_> = open_workbook(&path)
                .map_err(|e: calamine::XlsbError| ExcelError::Open { path: path.clone(), message: e.to_string() })?;
            let Some(sheet) = announce(book.sheet_names(), &config, &file, &tx)? else { return Ok(()) };
            let mut rows = Rows::new(range, Vec::new(), &extent, &tx, &gate);
            let mut cells = book.worksheet_cells_reader(&sheet).map_err(|e| fail(e.to_string()))?;
            let declared = cells.dimensions();
            let next = || cells.next_cell().map_err(|e| e.to_string());
            stream_cells(&mut rows, config.max_unpacked_bytes, declared, next, &file, &sheet)?;
        } else {
            if config.merged == Merged::Fill {
                return Err(ExcelError::MergedFill { file: file.clone() });
            }
            if bytes > config.max_whole_file_bytes {
                return Err(ExcelError::TooLarge {
                    file: file.clone(),
                    kind: ext.clone(),
                    size: bytes,
                    max: config.max_whole_file_bytes,
                });
            }
            if ext == "xls"
                && let Some(version) = old_biff(&path)
            {
                return Err(ExcelError::Open {
                    path: path.clone(),
                    message: format!(
                        "an Excel {version} workbook (BIFF{}), a format older than Excel 97 that is not read: open it in \
                         Excel or LibreOffice and save it as .xlsx (or: soffice --headless --convert-to xlsx FILE)",
                        version.chars().next().unwrap_or('?')
                    ),
                });
            }
            let mut book = open_workbook_auto(&path)
                .map_err(|e| ExcelError::Open { path: path.clone(), message: e.to_string() })?;
            let Some(sheet) = announce(book.sheet_names(), &config, &file, &tx)? else { return Ok(()) };
            let used = book.worksheet_range(&sheet).map_err(|e| fail(e.to_string()))?;
            let (top, left) = used.start().unwrap_or((0, 0));
            let mut rows = Rows::new(range, Vec::new(), &extent, &tx, &gate);
            if let Some((bottom, _)) = used.end() {
                rows.tell_extent(bottom);
            }
            for (i, row) in used.rows().enumerate() {
                let cells: Vec<(u32, CellText)> = row
                    .iter()
                    .enumerate()
                    .map(|(j, v)| (left + j as u32, from_data(v, ext == "ods")))
                    .filter(|(_, t)| *t != CellText::Empty)
                    .collect();
                if !cells.is_empty() && !rows.send(top + i as u32, cells) {
                    break;
                }
            }
        }
        let _ = tx.send(Msg::End { bytes, sha256 });
        Ok(())
    })();
    if let Err(e) = result {
        let _ = tx.send(Msg::Failed(e));
    }
}

impl ExcelSource {
    pub(crate) fn open(config: &ExcelSourceConfig, path: &Path) -> Result<Self, ExcelError> {
        let file: Arc<str> = path.display().to_string().into();
        let (tx, rx) = sync_channel(CHANNEL_ROWS);
        let (thread_path, thread_config) = (path.to_path_buf(), config.clone());
        let extent = Arc::new(AtomicU32::new(UNKNOWN_EXTENT));
        let gate = Arc::new(Gate::default());
        let (thread_extent, thread_gate) = (extent.clone(), gate.clone());
        // Any return below, an error too, stops the reader.
        let closing = Closing(gate.clone());
        std::thread::Builder::new()
            .name("migrate-excel".into())
            .spawn(move || read_workbook(thread_path, thread_config, tx, thread_extent, thread_gate))
            .map_err(|e| ExcelError::Open { path: path.to_path_buf(), message: e.to_string() })?;
        let (sheet, sheets): (Arc<str>, Vec<String>) = match receive(&rx, &gate) {
            Ok(Msg::Sheet(s, all)) => (s.into(), all),
            Ok(Msg::Failed(e)) => return Err(e),
            _ => return Err(ExcelError::Read { file: file.to_string(), message: "the reader stopped".into() }),
        };
        // The header: the first row at or below skip_rows (from the top of
        // the range) that has cells.
        let range = config.range.as_deref().and_then(CellRange::parse);
        let first_row = match config.skip_rows {
            SkipRows::Count(n) => range.map_or(0, |r| r.top as usize) + n,
            SkipRows::Auto(_) => Self::guess_header_row(config, path)?,
        };
        let header_cells = loop {
            match receive(&rx, &gate) {
                Ok(Msg::Row(r, cells, filled)) if r as usize >= first_row => break (r, cells, filled),
                Ok(Msg::Row(..)) => continue,
                Ok(Msg::Failed(e)) => return Err(e),
                _ => {
                    return Err(ExcelError::NoHeader {
                        file: file.to_string(),
                        sheet: sheet.to_string(),
                        skipped: first_row.saturating_sub(range.map_or(0, |r| r.top as usize)),
                    });
                }
            }
        };
        let (header_row, header_cells, header_filled) = header_cells;
        // Rows read ahead: the header is judged against them, and a sheet
        // without one takes its width from them.
        let mut pending: VecDeque<Msg> = VecDeque::new();
        if !config.header {
            pending.push_back(Msg::Row(header_row, header_cells.clone(), header_filled.clone()));
        }
        while pending.len() <= migrate_engine::header::HEADER_SAMPLE_ROWS {
            match receive(&rx, &gate) {
                Ok(Msg::Sheet(..)) => {}
                Ok(row @ Msg::Row(..)) => pending.push_back(row),
                Ok(last) => {
                    pending.push_back(last);
                    break;
                }
                Err(_) => break,
            }
        }
        let sample: Vec<Vec<Option<String>>> = pending
            .iter()
            .filter_map(|m| match m {
                Msg::Row(_, cells, _) => Some(row_values(cells)),
                _ => None,
            })
            .collect();
        let fields = row_values(&header_cells).into_iter().map(|v| v.unwrap_or_default().trim().to_string());
        let fields: Vec<String> = fields.collect();
        let looks_like_data =
            if config.header { migrate_engine::header::header_looks_like_data(&fields, &sample) } else { None };
        let skipped_above = first_row.saturating_sub(range.map_or(0, |r| r.top as usize)) as u64;
        let raw = if config.header {
            fields.clone()
        } else {
            migrate_engine::header::positional_names(sample.iter().map(Vec::len).max().unwrap_or(0))
        };
        let header_info = migrate_engine::HeaderInfo {
            consumed: config.header,
            line: config.header.then_some(u64::from(header_row) + 1),
            skipped_above,
            fields: if config.header { fields } else { Vec::new() },
            looks_like_data: looks_like_data.clone(),
        };
        let (header, changes) = migrate_engine::unique_header_names(raw);
        let mut header_notes: Vec<SourceNote> = changes
            .into_iter()
            .map(|(column, why)| SourceNote { row: 0, column, code: "header_renamed", example: why })
            .collect();
        if let Some(why) = looks_like_data {
            header_notes.push(SourceNote {
                row: 0,
                column: String::new(),
                code: migrate_engine::header::HEADER_LOOKS_LIKE_DATA,
                example: why,
            });
        }
        let first_column = column_letters(range.map_or(0, |r| r.left));
        Ok(Self {
            file,
            sheet,
            sheets,
            header,
            first_column,
            left: range.map_or(0, |r| r.left),
            rows: rx,
            batch_size: config.batch_size,
            header_notes,
            read: 0,
            done: None,
            pending,
            header_info,
            extent,
            header_row,
            at_row: header_row,
            header_found: matches!(config.skip_rows, SkipRows::Auto(_)),
            gate: closing,
        })
    }

    /// Every sheet of the workbook, in order.
    pub fn sheets(&self) -> &[String] {
        &self.sheets
    }

    /// The sheet being read.
    pub fn sheet(&self) -> &str {
        &self.sheet
    }

    /// The header row (0-based) of a sheet whose titles sit above it: the
    /// first of its first rows with the most cells.
    pub fn guess_header_row(config: &ExcelSourceConfig, path: &Path) -> Result<usize, ExcelError> {
        let (tx, rx) = sync_channel(64);
        let (thread_path, thread_config) = (path.to_path_buf(), config.clone());
        let gate = Arc::new(Gate::default());
        let (thread_gate, _closing) = (gate.clone(), Closing(gate.clone()));
        std::thread::Builder::new()
            .name("migrate-excel-probe".into())
            .spawn(move || {
                read_workbook(thread_path, thread_config, tx, Arc::new(AtomicU32::new(UNKNOWN_EXTENT)), thread_gate)
            })
            .map_err(|e| ExcelError::Open { path: path.to_path_buf(), message: e.to_string() })?;
        let mut rows: Vec<(u32, usize)> = Vec::new();
        while rows.len() < 30 {
            match receive(&rx, &gate) {
                Ok(Msg::Row(r, cells, _)) => rows.push((r, cells.len())),
                Ok(Msg::Sheet(..)) => {}
                Ok(Msg::Failed(e)) => return Err(e),
                _ => break,
            }
        }
        let widest = rows.iter().map(|(_, n)| *n).max().unwrap_or(0);
        Ok(rows.iter().find(|(_, n)| *n == widest).map_or(0, |(r, _)| *r as usize))
    }

    fn read_batch(&mut self) -> Result<Option<Batch>, ExcelError> {
        if self.done.is_some() {
            return Ok(None);
        }
        let width = self.header.len();
        let mut rows = Vec::new();
        let mut locations = Vec::new();
        let mut malformed = Vec::new();
        let mut notes = std::mem::take(&mut self.header_notes);
        let mut bytes = 0usize;
        while rows.len() < self.batch_size && bytes < migrate_engine::MAX_BATCH_BYTES {
            let next = match self.pending.pop_front() {
                Some(msg) => Ok(msg),
                None => receive(&self.rows, &self.gate.0),
            };
            match next {
                Ok(Msg::Row(r, cells, filled)) => {
                    self.at_row = self.at_row.max(r);
                    // A row that only a merged region's copies reach, all
                    // right of the header, holds nothing to load.
                    if cells.iter().all(|(c, _)| filled.contains(c) && *c as usize >= width) {
                        continue;
                    }
                    let index = rows.len();
                    bytes += row_bytes(&cells);
                    let mut values: Vec<Option<String>> = vec![None; width];
                    for (col, text) in cells {
                        let name = self.header.get(col as usize).cloned();
                        match (values.get_mut(col as usize), text) {
                            (Some(slot), CellText::Value(v)) => *slot = Some(v),
                            (Some(_), CellText::Error(e)) => notes.push(SourceNote {
                                row: index,
                                column: name.unwrap_or_default(),
                                code: migrate_engine::NULLED_ERROR_CELL,
                                example: e,
                            }),
                            // A merged region's copy past the header is
                            // not data: only its first cell is.
                            (None, _) if filled.contains(&col) => {}
                            (None, _) => malformed.push(MalformedRow {
                                row: index,
                                reason: RejectReason::MalformedRow,
                                message: format!(
                                    "cell {}{} lies right of the header's last column ({})",
                                    column_letters(col + self.left),
                                    r + 1,
                                    column_letters(width.saturating_sub(1) as u32 + self.left)
                                ),
                            }),
                            (Some(_), CellText::Invalid(why)) => malformed.push(MalformedRow {
                                row: index,
                                reason: RejectReason::InvalidDate,
                                message: format!("cell {}{}: {why}", column_letters(col + self.left), r + 1),
                            }),
                            (Some(_), CellText::Empty) => {}
                        }
                    }
                    rows.push(values);
                    locations.push(SourceLocation::Cell {
                        file: self.file.clone(),
                        sheet: self.sheet.clone(),
                        cell: format!("{}{}", self.first_column, r + 1),
                    });
                }
                Ok(Msg::End { bytes, sha256 }) => {
                    self.done = Some((bytes, sha256));
                    break;
                }
                Ok(Msg::Failed(e)) => return Err(e),
                Ok(Msg::Sheet(..)) => {}
                Err(_) => {
                    return Err(ExcelError::Read { file: self.file.to_string(), message: "the reader stopped".into() });
                }
            }
        }
        if rows.is_empty() {
            return Ok(None);
        }
        self.read += rows.len() as u64;
        let mut batch = Batch::from_rows(&self.header, rows, locations)
            .map_err(|e| ExcelError::Read { file: self.file.to_string(), message: e.to_string() })?;
        batch.malformed = malformed;
        batch.notes = notes;
        Ok(Some(batch))
    }
}

#[async_trait]
impl Source for ExcelSource {
    fn columns(&self) -> &[String] {
        &self.header
    }

    async fn next_batch(&mut self) -> Result<Option<Batch>, SourceError> {
        self.read_batch().map_err(SourceError::wrap)
    }

    fn decisions(&self) -> Vec<(String, String, String)> {
        if !self.header_found {
            return Vec::new();
        }
        let top = self.header_info.skipped_above;
        vec![(
            "skip_rows".to_string(),
            top.to_string(),
            format!(
                "the header on row {}: the first of the sheet's first rows with the most cells",
                self.header_row + 1
            ),
        )]
    }

    /// Rows of the sheet below the header delivered so far, of how many it
    /// declares (xlsx: its `<dimension>`; the other formats are read whole).
    fn position(&self) -> Option<(u64, u64)> {
        let last = self.extent.load(Ordering::Relaxed);
        if last == UNKNOWN_EXTENT || last <= self.header_row {
            return None;
        }
        let total = u64::from(last - self.header_row);
        if self.done.is_some() {
            return Some((total, total));
        }
        Some((u64::from(self.at_row.saturating_sub(self.header_row)).min(total), total))
    }

    fn info(&self) -> SourceInfo {
        SourceInfo {
            kind: "excel".into(),
            location: format!("{}!{}", self.file, self.sheet),
            size: self.done.as_ref().map(|d| d.0),
            sha256: self.done.as_ref().map(|d| d.1.clone()),
            row_count: Some(self.read),
            header: Some(self.header_info.clone()),
            ..SourceInfo::default()
        }
    }
}
