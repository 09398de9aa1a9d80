//! Shared by the file-reading targets: a per-process scratch file in
//! memory-backed /dev/shm (falling back to the temp dir), and a runtime to
//! drive the sources' async `next_batch`.

use std::path::PathBuf;
use std::sync::OnceLock;

pub fn scratch(name: &str, data: &[u8]) -> PathBuf {
    let dir = if std::path::Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
    let path = dir.join(format!("migrate-fuzz-{}-{name}", std::process::id()));
    std::fs::write(&path, data).expect("the scratch file can be written");
    path
}

pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| tokio::runtime::Builder::new_current_thread().build().expect("a runtime")).block_on(future)
}
