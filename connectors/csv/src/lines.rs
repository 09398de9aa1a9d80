//! Hashing the raw file as it streams under the parser, for the report's
//! sha256 and size.

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
