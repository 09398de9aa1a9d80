//! A job's files: downloading its S3 prefix (or byte ranges of one object)
//! into a folder of its own, loading its mapping as untrusted input, and
//! uploading the results.

use std::cell::RefCell;
use std::path::{Component, Path, PathBuf};

use migrate_app::{SourceSet, load_mapping};
use migrate_mappings::Mapping;
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use crate::layout::{MAPPING_FILE, RESULTS_DIR};
use crate::service::Shared;

#[derive(Debug)]
pub enum JobError {
    /// Stopped at shutdown (or the lease was lost): not an attempt.
    Cancelled,
    /// The attempt failed, with a message for the ledger; another attempt
    /// may succeed (S3 or the database unreachable, a source not there yet).
    Failed(String),
    /// The job's own input is wrong (its mapping, its keys, its size, a
    /// reject budget its data exceeds): no attempt can succeed, so the job
    /// fails at once.
    Permanent(String),
    /// A run that ended with a report but published nothing: `error` is
    /// `Failed` or `Permanent`; its results are at `run_id` when they were
    /// written (the job's last attempt).
    Run { run_id: Option<Uuid>, error: Box<JobError> },
}

pub fn fail(e: impl std::fmt::Display) -> JobError {
    JobError::Failed(e.to_string())
}

/// A failure that retrying cannot fix.
pub fn permanent(e: impl std::fmt::Display) -> JobError {
    JobError::Permanent(e.to_string())
}

/// Whether a run's error comes from the job's input rather than from the
/// systems the run uses: the same input would fail the same way again.
pub fn run_error_is_permanent(e: &migrate_engine::EngineError) -> bool {
    use migrate_engine::EngineError as E;
    matches!(e, E::RejectBudgetExceeded { .. } | E::UnknownSourceColumn { .. } | E::Inference { .. })
}

/// A relative key below the job prefix, as a path that stays inside the
/// job's folder.
pub fn local_path(dir: &Path, relative: &str) -> Option<PathBuf> {
    let rel = Path::new(relative);
    if relative.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    Some(dir.join(rel))
}

/// True when `path` (made absolute against nothing: the mapping's folder is
/// the job folder) stays inside `dir` without `..`.
pub fn inside(dir: &Path, path: &Path) -> bool {
    path.starts_with(dir) && path.components().all(|c| !matches!(c, Component::ParentDir))
}

/// Downloads every object under the job prefix (but results) into `dir`.
pub async fn download(shared: &Shared, bucket: &str, prefix: &str, dir: &Path) -> Result<Vec<String>, JobError> {
    let mut keys = Vec::new();
    let mut total = 0u64;
    let mut pages = shared.s3.list_objects_v2().bucket(bucket).prefix(prefix).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            fail(format!("listing s3://{bucket}/{prefix}: {}", aws_sdk_s3::error::DisplayErrorContext(e)))
        })?;
        for object in page.contents() {
            let Some(key) = object.key() else { continue };
            let relative = key.strip_prefix(prefix).unwrap_or_default();
            if relative.starts_with(&format!("{RESULTS_DIR}/")) || relative.ends_with('/') {
                continue;
            }
            total = total.saturating_add(u64::try_from(object.size().unwrap_or(0)).unwrap_or(0));
            if total > shared.config.max_job_bytes {
                return Err(permanent(format!(
                    "the job's files add up to more than MAX_JOB_BYTES = {}",
                    shared.config.max_job_bytes
                )));
            }
            keys.push(key.to_string());
        }
    }
    for key in &keys {
        let relative = key.strip_prefix(prefix).unwrap_or_default();
        let Some(target) = local_path(dir, relative) else {
            return Err(permanent(format!("object key {key:?} is not a plain relative path")));
        };
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(fail)?;
        }
        let object =
            shared.s3.get_object().bucket(bucket).key(key).send().await.map_err(|e| {
                fail(format!("reading s3://{bucket}/{key}: {}", aws_sdk_s3::error::DisplayErrorContext(e)))
            })?;
        let mut body = object.body.into_async_read();
        let mut file = tokio::fs::File::create(&target).await.map_err(fail)?;
        tokio::io::copy(&mut body, &mut file).await.map_err(|e| fail(format!("reading s3://{bucket}/{key}: {e}")))?;
        file.flush().await.map_err(fail)?;
    }
    Ok(keys)
}

/// Uploads a folder's files under `{prefix}{under}`.
pub async fn upload_results(
    shared: &Shared,
    bucket: &str,
    prefix: &str,
    out: &Path,
    under: &str,
) -> Result<(), JobError> {
    if !out.exists() {
        return Ok(());
    }
    let mut stack = vec![out.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut entries = tokio::fs::read_dir(&dir).await.map_err(fail)?;
        while let Some(entry) = entries.next_entry().await.map_err(fail)? {
            let path = entry.path();
            if entry.file_type().await.map_err(fail)?.is_dir() {
                stack.push(path);
                continue;
            }
            let relative = path.strip_prefix(out).map_err(fail)?.to_string_lossy().replace('\\', "/");
            let key = format!("{prefix}{under}{relative}");
            let body = aws_sdk_s3::primitives::ByteStream::from_path(&path).await.map_err(fail)?;
            shared.s3.put_object().bucket(bucket).key(&key).body(body).send().await.map_err(|e| {
                fail(format!("writing s3://{bucket}/{key}: {}", aws_sdk_s3::error::DisplayErrorContext(e)))
            })?;
        }
    }
    Ok(())
}

/// Writes one object, or the given byte ranges of it one after the other,
/// to `target`.
pub async fn fetch(
    shared: &Shared,
    bucket: &str,
    key: &str,
    ranges: &[(u64, u64)],
    target: &Path,
) -> Result<(), JobError> {
    if let Some(parent) = target.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(fail)?;
    }
    let mut file = tokio::fs::File::create(target).await.map_err(fail)?;
    let whole = [None];
    let wanted: Vec<Option<(u64, u64)>> =
        if ranges.is_empty() { whole.to_vec() } else { ranges.iter().copied().map(Some).collect() };
    for range in wanted {
        let mut request = shared.s3.get_object().bucket(bucket).key(key);
        match range {
            Some((start, end)) if end > start => request = request.range(format!("bytes={start}-{}", end - 1)),
            Some(_) => continue,
            None => {}
        }
        let object = request
            .send()
            .await
            .map_err(|e| fail(format!("reading s3://{bucket}/{key}: {}", aws_sdk_s3::error::DisplayErrorContext(e))))?;
        let mut body = object.body.into_async_read();
        tokio::io::copy(&mut body, &mut file).await.map_err(|e| fail(format!("reading s3://{bucket}/{key}: {e}")))?;
    }
    file.flush().await.map_err(fail)?;
    Ok(())
}

/// Where a job's mapping comes from: `mapping.toml` beside the data, or the
/// tenant's stored mapping.
pub fn mapping_key(shared: &Shared, prefix: &str, org: Uuid, stored: bool) -> String {
    if stored { format!("{}{org}.toml", shared.config.mappings_prefix) } else { format!("{prefix}{MAPPING_FILE}") }
}

/// The local file a job's mapping is read from.
pub fn mapping_path(root: &Path, stored: bool) -> PathBuf {
    if stored { root.join(".stored-mapping.toml") } else { root.join(MAPPING_FILE) }
}

/// Loads the job's mapping (already in `root`) and checks what an upload
/// may not do: read the environment (unless it is the tenant's stored
/// mapping), load another org, or read files outside the job's folder.
/// Opens no source.
pub fn load_job_mapping(
    shared: &Shared,
    root: &Path,
    shown: &str,
    org: Uuid,
    stored: bool,
) -> Result<(Mapping, SourceSet), JobError> {
    let place = |text: String| text.replace(&format!("{}/", root.display()), shown);
    let asked = RefCell::new(Vec::<String>::new());
    let unreadable = RefCell::new(None::<String>);
    let lookup = |name: &str| -> Option<String> {
        if stored {
            migrate_mappings::process_env_or_file(name, &mut |e| *unreadable.borrow_mut() = Some(e))
        } else {
            asked.borrow_mut().push(name.to_string());
            Some(String::new())
        }
    };
    let mapping = load_mapping(&mapping_path(root, stored), &lookup);
    if let Some(e) = unreadable.into_inner() {
        return Err(permanent(format!("the stored mapping for org {org}: {e}")));
    }
    let mapping = mapping.map_err(|e| permanent(place(e.to_string())))?;
    if let Some(name) = asked.into_inner().first() {
        return Err(permanent(format!(
            "{shown}{MAPPING_FILE} uses ${{{name}}}: a mapping uploaded with the data cannot read the worker's environment (store the mapping as {}{org}.toml to use variables)",
            shared.config.mappings_prefix
        )));
    }
    if mapping.plan.org_id != org {
        return Err(permanent(format!(
            "the mapping is for org {} but was uploaded under tenants/{org}/: refused, nothing loaded",
            mapping.plan.org_id
        )));
    }
    let mut configured = SourceSet::configure(&mapping).map_err(|d| permanent(place(d.render(false))))?;
    // An uploaded mapping must not make the worker connect anywhere.
    if !stored && let Some(name) = configured.databases().first() {
        return Err(permanent(format!(
            "source {name} of {shown}{MAPPING_FILE} reads a database: only a stored mapping ({}{org}.toml) may",
            shared.config.mappings_prefix
        )));
    }
    // An upload may lower the limits the operator set, never raise them;
    // what a mapping leaves out (a stored one too) takes the ceiling.
    let above = configured.hold_to(&mapping, &shared.config.ceilings);
    if !stored && !above.is_empty() {
        return Err(permanent(format!("{shown}{MAPPING_FILE}: {}: refused", above.join("; "))));
    }
    for (name, path) in configured.files() {
        if !inside(root, &path) {
            return Err(permanent(format!(
                "source {name} reads {}, outside the job's upload prefix {shown}: refused",
                path.display()
            )));
        }
    }
    Ok((mapping, configured))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_keys_map_to_paths_inside_the_job_folder() {
        let dir = Path::new("/w/job");
        assert_eq!(local_path(dir, "in/a.csv"), Some(PathBuf::from("/w/job/in/a.csv")));
        for bad in ["", "../a.csv", "in/../../a", "/etc/passwd", "./a"] {
            assert_eq!(local_path(dir, bad), None, "{bad}");
        }
        assert!(inside(dir, Path::new("/w/job/a.csv")));
        assert!(!inside(dir, Path::new("/w/job/../other/a.csv")));
        assert!(!inside(dir, Path::new("/etc/passwd")));
    }
}
