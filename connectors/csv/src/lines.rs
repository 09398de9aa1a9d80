//! Byte plumbing under the csv parser: hashing the raw file as it streams
//! (for the report's sha256 and size), and knowing the line each record
//! starts on in the decoded text, whatever the line endings.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

/// The raw file's checksum and size so far, shared with the source.
#[derive(Default)]
pub struct HashState {
    pub hasher: Sha256,
    pub bytes: u64,
}

pub type SharedHash = Arc<Mutex<HashState>>;

/// Hashes every raw byte read through it.
pub struct Hashing<R> {
    pub inner: R,
    pub state: SharedHash,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Ok(mut state) = self.state.lock() {
            state.hasher.update(buf.get(..n).unwrap_or_default());
            state.bytes += n as u64;
        }
        Ok(n)
    }
}

/// Notes where `\r` and `\n` are in the decoded text. The csv parser's
/// position for a record is taken before it skips the previous record's
/// terminator and blank lines, and it counts lines by `\n` only; the line a
/// record really starts on is worked out here, CR-only files included.
pub struct Lines<R> {
    pub inner: R,
    offset: u64,
    /// (offset, is `\n`) of terminator bytes not yet behind the parser.
    terminators: VecDeque<(u64, bool)>,
    /// Line breaks in the part already behind the parser.
    breaks_behind: u64,
}

impl<R> Lines<R> {
    pub fn new(inner: R) -> Self {
        Self { inner, offset: 0, terminators: VecDeque::new(), breaks_behind: 0 }
    }

    /// A `\r` is a break unless a `\n` follows it; a `\n` always is.
    fn is_break(&self, index: usize) -> bool {
        match self.terminators.get(index) {
            Some((_, true)) => true,
            Some((offset, false)) => {
                !matches!(self.terminators.get(index + 1), Some((next, true)) if *next == offset + 1)
            }
            None => false,
        }
    }

    /// Line breaks before `byte` (which never goes backwards).
    pub fn breaks_before(&mut self, byte: u64) -> u64 {
        while self.terminators.front().is_some_and(|(offset, _)| *offset < byte) {
            if self.is_break(0) {
                self.breaks_behind += 1;
            }
            self.terminators.pop_front();
        }
        self.breaks_behind
    }

    /// The 1-based line of a record the parser placed at `byte`.
    pub fn start_line(&mut self, byte: u64) -> u64 {
        self.breaks_before(byte);
        let mut breaks = 0;
        let mut expected = byte;
        for i in 0..self.terminators.len() {
            match self.terminators.get(i) {
                Some((offset, _)) if *offset == expected => {
                    if self.is_break(i) {
                        breaks += 1;
                    }
                    expected += 1;
                }
                _ => break,
            }
        }
        1 + self.breaks_behind + breaks
    }
}

impl<R: Read> Read for Lines<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for (i, b) in buf.get(..n).unwrap_or_default().iter().enumerate() {
            if *b == b'\n' || *b == b'\r' {
                self.terminators.push_back((self.offset + i as u64, *b == b'\n'));
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}
