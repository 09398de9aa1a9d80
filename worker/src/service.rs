//! The worker loop: long-poll the queue, turn each S3 event into a job,
//! claim it in the ledger, run it with the same wiring as `migrate run`,
//! put the results back in S3, notify, and only then delete the message.

use std::cell::RefCell;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use aws_sdk_sqs::types::Message;
use migrate_connectors::{OutputDir, RunRequest, SourceSet, check_mapping, load_mapping, run_mapping, write_report};
use migrate_engine::{EngineError, RunReport};
use sqlx::PgPool;
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;
use tracing::{Instrument, error, info, info_span, warn};
use uuid::Uuid;

use crate::config::WorkerConfig;
use crate::event::{Upload, parse};
use crate::layout::{MAPPING_FILE, RESULTS_DIR, Trigger, classify};
use crate::ledger::{self, Claimed, NotClaimed};
use crate::metrics::Metrics;
use crate::redact::Redactor;

/// What every part of the worker shares.
pub struct Shared {
    pub config: WorkerConfig,
    pub pool: PgPool,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub metrics: Metrics,
    pub redactor: Redactor,
    /// True once SIGTERM arrived: no new message is taken.
    pub stopping: watch::Sender<bool>,
    /// Cancels the job under way: its run publishes nothing.
    pub cancel: Arc<AtomicBool>,
}

impl Shared {
    pub async fn connect(config: WorkerConfig, redactor: Redactor) -> anyhow::Result<Arc<Self>> {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(config.db.options.clone())
            .await
            .with_context(|| format!("connecting to {}", config.db.display))?;
        let http = https_client();
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(http)
            .region(aws_config::Region::new(config.region.clone()));
        if let Some(endpoint) = &config.aws_endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        let aws = loader.load().await;
        let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&aws).force_path_style(true).build());
        let sqs = aws_sdk_sqs::Client::new(&aws);
        let (stopping, _) = watch::channel(false);
        Ok(Arc::new(Self {
            config,
            pool,
            s3,
            sqs,
            metrics: Metrics::default(),
            redactor,
            stopping,
            cancel: Arc::new(AtomicBool::new(false)),
        }))
    }

    /// The database and the queue answer.
    pub async fn ready(&self) -> Result<(), String> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(|e| self.redactor.clean(&format!("database: {e}")))?;
        self.sqs
            .get_queue_attributes()
            .queue_url(&self.config.queue_url)
            .send()
            .await
            .map_err(|e| self.redactor.clean(&format!("queue: {}", aws_sdk_sqs::error::DisplayErrorContext(e))))?;
        Ok(())
    }

    fn secs(d: Duration) -> i32 {
        i32::try_from(d.as_secs().max(1)).unwrap_or(i32::MAX)
    }
}

/// The HTTP client of every AWS call: rustls on ring.
pub fn https_client() -> aws_sdk_s3::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// Takes messages until SIGTERM.
pub async fn run(shared: Arc<Shared>) {
    let mut stop = shared.stopping.subscribe();
    loop {
        if *stop.borrow() {
            break;
        }
        let receive = shared
            .sqs
            .receive_message()
            .queue_url(&shared.config.queue_url)
            .max_number_of_messages(1)
            .wait_time_seconds(shared.config.poll_wait_secs)
            .visibility_timeout(Shared::secs(shared.config.lease))
            .send();
        let received = tokio::select! {
            r = receive => r,
            _ = stop.wait_for(|s| *s) => break,
        };
        match received {
            Ok(out) => {
                for message in out.messages() {
                    handle_message(&shared, message).await;
                }
            }
            Err(e) => {
                warn!(error = %shared.redactor.clean(&aws_sdk_sqs::error::DisplayErrorContext(e).to_string()), "receiving from the queue failed");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
    info!("stopped taking messages");
}

/// What became of one upload of a message.
enum Handled {
    /// Nothing more to do with it (ran, duplicate, not a job).
    Done,
    /// Show the message again after this long.
    Retry(Duration),
    /// Failed for good: the message goes to the dead-letter queue.
    DeadLetter,
}

async fn handle_message(shared: &Shared, message: &Message) {
    shared.metrics.message();
    let body = message.body().unwrap_or_default();
    let Some(receipt) = message.receipt_handle() else { return };
    let uploads = match parse(body) {
        Ok(u) => u,
        Err(e) => {
            warn!(error = %e, "unreadable message: dead-lettered");
            dead_letter(shared, body).await;
            delete(shared, receipt).await;
            return;
        }
    };
    let mut retry: Option<Duration> = None;
    let mut dead = false;
    for upload in &uploads {
        match handle_upload(shared, upload, receipt).await {
            Handled::Done => {}
            Handled::Retry(after) => retry = Some(retry.map_or(after, |r| r.max(after))),
            Handled::DeadLetter => dead = true,
        }
    }
    if dead {
        dead_letter(shared, body).await;
    }
    match retry {
        Some(after) if !dead => {
            let result = shared
                .sqs
                .change_message_visibility()
                .queue_url(&shared.config.queue_url)
                .receipt_handle(receipt)
                .visibility_timeout(i32::try_from(after.as_secs()).unwrap_or(i32::MAX))
                .send()
                .await;
            if let Err(e) = result {
                warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "could not reschedule the message");
            }
        }
        _ => delete(shared, receipt).await,
    }
}

async fn delete(shared: &Shared, receipt: &str) {
    let result = shared.sqs.delete_message().queue_url(&shared.config.queue_url).receipt_handle(receipt).send().await;
    if let Err(e) = result {
        // The message comes back; the ledger makes it a no-op then.
        warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "could not delete the message");
    }
}

async fn dead_letter(shared: &Shared, body: &str) {
    let Some(url) = &shared.config.dead_letter_queue_url else { return };
    if let Err(e) = shared.sqs.send_message().queue_url(url).message_body(body).send().await {
        error!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "could not dead-letter a message");
    }
}

async fn stored_mapping_exists(shared: &Shared, bucket: &str, org: Uuid) -> bool {
    let key = format!("{}{org}.toml", shared.config.mappings_prefix);
    shared.s3.head_object().bucket(bucket).key(key).send().await.is_ok()
}

async fn handle_upload(shared: &Shared, upload: &Upload, receipt: &str) -> Handled {
    let (org, prefix, stored) = match classify(&upload.key) {
        Trigger::Ignore(why) => {
            info!(key = %upload.key, why = %why, "not a job");
            return Handled::Done;
        }
        Trigger::UploadedMapping { org, prefix } => (org, prefix, false),
        Trigger::DataFile { org, prefix } => {
            if !stored_mapping_exists(shared, &upload.bucket, org).await {
                info!(key = %upload.key, "data file without a stored mapping: the job starts when its mapping.toml arrives");
                return Handled::Done;
            }
            (org, prefix, true)
        }
    };
    let config = &shared.config;
    let claim = ledger::claim(&shared.pool, upload, org, &prefix, &config.worker_id, config.lease).await;
    let claimed = match claim {
        Ok(Ok(c)) => c,
        Ok(Err(NotClaimed::Finished(state))) => {
            info!(key = %upload.key, state = %state, "duplicate event: the job already ran");
            return Handled::Done;
        }
        Ok(Err(NotClaimed::Held(left))) => {
            info!(key = %upload.key, "another worker holds the job");
            return Handled::Retry(left + Duration::from_secs(1));
        }
        Err(e) => {
            error!(error = %shared.redactor.clean(&e.to_string()), "job ledger unavailable");
            return Handled::Retry(Duration::from_secs(5));
        }
    };
    let span = info_span!("job", job_id = %claimed.job_id, org_id = %org, attempt = claimed.attempts);
    run_claimed(shared, upload, receipt, claimed, org, prefix, stored).instrument(span).await
}

/// A job's end, as the ledger, the notification and the metrics see it.
struct Outcome {
    state: &'static str,
    run_id: Option<Uuid>,
    error: Option<String>,
    summary: serde_json::Value,
    rows: Vec<(&'static str, u64)>,
}

async fn run_claimed(
    shared: &Shared,
    upload: &Upload,
    receipt: &str,
    claimed: Claimed,
    org: Uuid,
    prefix: String,
    stored: bool,
) -> Handled {
    let config = &shared.config;
    if claimed.attempts > config.max_attempts {
        let error = format!("gave up after {} attempts", config.max_attempts);
        end_job(shared, upload, &claimed, &prefix, failed(None, error)).await;
        return Handled::DeadLetter;
    }
    info!(key = %upload.key, "job claimed");
    shared.cancel.store(false, Ordering::Relaxed);
    let heartbeat = tokio::spawn(heartbeat(
        shared.pool.clone(),
        shared.sqs.clone(),
        config.clone(),
        claimed.job_id,
        receipt.to_string(),
        shared.cancel.clone(),
    ));
    let started = Instant::now();
    let result = execute(shared, upload, org, &prefix, stored).await;
    heartbeat.abort();
    let seconds = started.elapsed().as_secs_f64();
    match result {
        Ok(outcome) => {
            shared.metrics.job_ended(outcome.state, seconds, &outcome.rows);
            end_job(shared, upload, &claimed, &prefix, outcome).await;
            Handled::Done
        }
        Err(JobError::Cancelled) => {
            info!("job cancelled at shutdown: handed back");
            if let Err(e) = ledger::release(&shared.pool, claimed.job_id, &config.worker_id, None).await {
                error!(error = %shared.redactor.clean(&e.to_string()), "could not hand the job back; its lease will expire");
            }
            Handled::Retry(Duration::ZERO)
        }
        Err(JobError::Failed(message)) => {
            let message = shared.redactor.clean(&message);
            shared.metrics.job_ended("failed_attempt", seconds, &[]);
            if claimed.attempts >= config.max_attempts {
                error!(error = %message, "job failed for good");
                end_job(shared, upload, &claimed, &prefix, failed(None, message)).await;
                Handled::DeadLetter
            } else {
                warn!(error = %message, "job attempt failed: will retry");
                if let Err(e) = ledger::release(&shared.pool, claimed.job_id, &config.worker_id, Some(&message)).await {
                    error!(error = %shared.redactor.clean(&e.to_string()), "could not record the failure");
                }
                Handled::Retry(config.retry_delay * u32::try_from(claimed.attempts).unwrap_or(1))
            }
        }
    }
}

fn failed(run_id: Option<Uuid>, error: String) -> Outcome {
    Outcome {
        state: "failed",
        run_id,
        summary: serde_json::json!({ "status": "failed", "error": error }),
        error: Some(error),
        rows: Vec::new(),
    }
}

/// Records the end in the ledger and sends the notification.
async fn end_job(shared: &Shared, upload: &Upload, claimed: &Claimed, prefix: &str, outcome: Outcome) {
    let config = &shared.config;
    let recorded = ledger::finish(
        &shared.pool,
        claimed.job_id,
        &config.worker_id,
        outcome.state,
        outcome.run_id,
        outcome.error.as_deref(),
        &outcome.summary,
    )
    .await;
    if let Err(e) = recorded {
        error!(error = %shared.redactor.clean(&e.to_string()), "could not record the job's end");
    }
    info!(state = outcome.state, "job ended");
    let Some(url) = &config.notify_queue_url else { return };
    let note = serde_json::json!({
        "job_id": claimed.job_id,
        "bucket": upload.bucket,
        "key": upload.key,
        "prefix": prefix,
        "state": outcome.state,
        "attempts": claimed.attempts,
        "run_id": outcome.run_id,
        "results": outcome.run_id.map(|r| format!("s3://{}/{prefix}{RESULTS_DIR}/{r}/", upload.bucket)),
        "summary": outcome.summary,
    });
    if let Err(e) = shared.sqs.send_message().queue_url(url).message_body(note.to_string()).send().await {
        error!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "could not send the notification");
    }
}

/// Renews the lease and the message's visibility while the job runs; if
/// the lease was lost, cancels the run (another worker has the job).
async fn heartbeat(
    pool: PgPool,
    sqs: aws_sdk_sqs::Client,
    config: WorkerConfig,
    job: Uuid,
    receipt: String,
    cancel: Arc<AtomicBool>,
) {
    loop {
        tokio::time::sleep(config.lease / 3).await;
        match ledger::renew(&pool, job, &config.worker_id, config.lease).await {
            Ok(true) => {}
            Ok(false) => {
                warn!("lease lost: cancelling the run");
                cancel.store(true, Ordering::Relaxed);
                return;
            }
            Err(e) => warn!(error = %e.to_string().chars().take(200).collect::<String>(), "lease renewal failed"),
        }
        let _ = sqs
            .change_message_visibility()
            .queue_url(&config.queue_url)
            .receipt_handle(&receipt)
            .visibility_timeout(Shared::secs(config.lease))
            .send()
            .await;
    }
}

#[derive(Debug)]
enum JobError {
    /// Stopped at shutdown (or the lease was lost): not an attempt.
    Cancelled,
    /// The attempt failed, with a message for the ledger.
    Failed(String),
}

fn fail(e: impl std::fmt::Display) -> JobError {
    JobError::Failed(e.to_string())
}

/// A relative key below the job prefix, as a path that stays inside the
/// job's folder.
fn local_path(dir: &Path, relative: &str) -> Option<PathBuf> {
    let rel = Path::new(relative);
    if relative.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    Some(dir.join(rel))
}

/// True when `path` (made absolute against nothing: the mapping's folder is
/// the job folder) stays inside `dir` without `..`.
fn inside(dir: &Path, path: &Path) -> bool {
    path.starts_with(dir) && path.components().all(|c| !matches!(c, Component::ParentDir))
}

/// Downloads every object under the job prefix (but results) into `dir`.
async fn download(shared: &Shared, bucket: &str, prefix: &str, dir: &Path) -> Result<Vec<String>, JobError> {
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
                return Err(fail(format!(
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
            return Err(fail(format!("object key {key:?} is not a plain relative path")));
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

/// Uploads the run's output folder under `{prefix}_results/{run_id}/`.
async fn upload_results(shared: &Shared, bucket: &str, prefix: &str, run_id: Uuid, out: &Path) -> Result<(), JobError> {
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
            let key = format!("{prefix}{RESULTS_DIR}/{run_id}/{relative}");
            let body = aws_sdk_s3::primitives::ByteStream::from_path(&path).await.map_err(fail)?;
            shared.s3.put_object().bucket(bucket).key(&key).body(body).send().await.map_err(|e| {
                fail(format!("writing s3://{bucket}/{key}: {}", aws_sdk_s3::error::DisplayErrorContext(e)))
            })?;
        }
    }
    Ok(())
}

fn summary(report: &RunReport) -> (serde_json::Value, Vec<(&'static str, u64)>) {
    let mut rows = vec![("read", 0), ("loaded", 0), ("rejected", 0), ("duplicates", 0), ("filtered", 0)];
    for e in &report.entities {
        for (name, value) in rows.iter_mut() {
            *value += match *name {
                "read" => e.counts.read,
                "loaded" => e.counts.loaded,
                "rejected" => e.counts.rejected,
                "duplicates" => e.counts.duplicates,
                _ => e.counts.filtered,
            };
        }
    }
    let entities: Vec<serde_json::Value> = report
        .entities
        .iter()
        .map(|e| {
            serde_json::json!({
                "entity": e.entity,
                "read": e.counts.read,
                "loaded": e.counts.loaded,
                "inserted": e.counts.inserted,
                "updated": e.counts.updated,
                "unchanged": e.counts.unchanged,
                "rejected": e.counts.rejected,
                "duplicates": e.counts.duplicates,
                "filtered": e.counts.filtered,
                "balanced": e.counts.balanced(),
            })
        })
        .collect();
    let value = serde_json::json!({
        "status": report.status,
        "run_id": report.run_id,
        "error": report.error,
        "entities": entities,
    });
    (value, rows)
}

/// Downloads the job's files, loads and checks its mapping as untrusted
/// input, runs it, and puts the results back.
async fn execute(shared: &Shared, upload: &Upload, org: Uuid, prefix: &str, stored: bool) -> Result<Outcome, JobError> {
    let config = &shared.config;
    let bucket = &upload.bucket;
    std::fs::create_dir_all(&config.work_dir).map_err(fail)?;
    let dir = tempfile::Builder::new().prefix("migrate-job-").tempdir_in(&config.work_dir).map_err(fail)?;
    let root = dir.path().to_path_buf();
    let shown = format!("s3://{bucket}/{prefix}");
    // Messages name the S3 objects, not the worker's folder.
    let place = |text: String| text.replace(&format!("{}/", root.display()), &shown);
    let files = download(shared, bucket, prefix, &root).await?;
    info!(files = files.len(), "downloaded");

    let mapping_path = if stored {
        let key = format!("{}{org}.toml", config.mappings_prefix);
        let object =
            shared.s3.get_object().bucket(bucket).key(&key).send().await.map_err(|e| {
                fail(format!("reading s3://{bucket}/{key}: {}", aws_sdk_s3::error::DisplayErrorContext(e)))
            })?;
        let bytes = object.body.collect().await.map_err(fail)?.into_bytes();
        let path = root.join(".stored-mapping.toml");
        std::fs::write(&path, &bytes).map_err(fail)?;
        path
    } else {
        root.join(MAPPING_FILE)
    };

    // An uploaded mapping is untrusted: it may not read the environment.
    let asked = RefCell::new(Vec::<String>::new());
    let lookup = |name: &str| -> Option<String> {
        if stored {
            std::env::var(name).ok()
        } else {
            asked.borrow_mut().push(name.to_string());
            Some(String::new())
        }
    };
    let mapping = load_mapping(&mapping_path, &lookup).map_err(|e| fail(place(e.to_string())))?;
    let asked = asked.into_inner();
    if let Some(name) = asked.first() {
        return Err(fail(format!(
            "{shown}{MAPPING_FILE} uses ${{{name}}}: a mapping uploaded with the data cannot read the worker's environment (store the mapping as {}{org}.toml to use variables)",
            config.mappings_prefix
        )));
    }
    if mapping.plan.org_id != org {
        return Err(fail(format!(
            "the mapping is for org {} but was uploaded under tenants/{org}/: refused, nothing loaded",
            mapping.plan.org_id
        )));
    }
    // Every source must be a file of this job: no local paths elsewhere.
    let configured = SourceSet::configure(&mapping).map_err(|d| fail(place(d.render(false))))?;
    for (name, path) in configured.files() {
        if !inside(&root, &path) {
            return Err(fail(format!(
                "source {name} reads {}, outside the job's upload prefix {shown}: refused",
                path.display()
            )));
        }
    }
    let (sources, diagnostics) = check_mapping(&mapping);
    let Some(sources) = sources else {
        return Err(fail(place(diagnostics.render(false))));
    };

    let run_id = Uuid::new_v4();
    let out_dir = root.join(".out");
    let mut output = OutputDir::create(&out_dir).map_err(fail)?;
    let request = RunRequest { run_id, dry_run: false, cancel: &shared.cancel };
    let (mut report, error) = run_mapping(&mapping, &sources, config.db.clone(), request, &mut output).await;
    if matches!(error, Some(EngineError::Cancelled)) {
        return Err(JobError::Cancelled);
    }
    output.close().map_err(fail)?;
    report.mapping.path =
        format!("{shown}{}", mapping_path.strip_prefix(&root).map(|p| p.display().to_string()).unwrap_or_default());
    for s in &mut report.sources {
        s.location = place(s.location.clone());
    }
    if let Some(e) = &mut report.error {
        *e = shared.redactor.clean(&place(e.clone()));
    }
    write_report(&out_dir, &report).map_err(fail)?;
    upload_results(shared, bucket, prefix, run_id, &out_dir).await?;
    let (summary, rows) = summary(&report);
    match error {
        None => Ok(Outcome { state: "succeeded", run_id: Some(run_id), error: None, summary, rows }),
        // A run that ended with a report (a reject budget exceeded, a
        // database error mid-run) is retried: nothing of it was published.
        Some(e) => Err(fail(format!("run {run_id}: {}", place(e.to_string())))),
    }
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
