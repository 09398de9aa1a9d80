//! Partitioned jobs: a large CSV is indexed once (quoted newlines hide
//! record boundaries from a blind seek), cut into byte ranges of whole
//! records, and each range becomes a message any worker may take. A worker
//! downloads only the header bytes and its range (S3 ranged reads), stages
//! them into the run's shared staging, and records its partition's counts.
//! The last partition to finish enqueues the publish; whichever worker
//! takes it publishes everything in one transaction and assembles the
//! report. No coordinator process: the job ledger is the coordination.

use std::path::Path;

use migrate_app::{OutputDir, SourceSet, write_report};
use migrate_csv::FileIndex;
use migrate_engine::{Decision, RunMode, RunOptions, RunReport, Sink, SourceInfo};
use migrate_mappings::Mapping;
use migrate_postgres::PgSink;
use serde::{Deserialize, Serialize};
use tracing::{Instrument, error, info, info_span, warn};
use uuid::Uuid;

use crate::files::{JobError, fail, fetch, load_job_mapping, mapping_key, mapping_path, upload_results};
use crate::layout::{MAPPING_FILE, RESULTS_DIR};
use crate::ledger::{self, NotClaimed};
use crate::service::{
    Executed, Handled, Internal, JobInfo, Lease, Outcome, Shared, enqueue, locate_report, place, settle_attempt,
    summary, with_heartbeat,
};

/// What the partitions and the publish of a split job share (stored with
/// the job).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SplitPlan {
    run_id: Uuid,
    /// The mapping's one source.
    source: String,
    /// The source file's key relative to the job prefix.
    file: String,
    decisions: Vec<Decision>,
    index: FileIndex,
    /// The whole input, as the report describes it.
    source_info: SourceInfo,
}

/// Splits the job when its mapping reads one CSV larger than
/// `PARTITION_BYTES`: settles the mapping's `auto` settings over the whole
/// file, records the run and its staging, the partitions in the ledger,
/// and enqueues them. False when the job runs whole.
pub(crate) async fn split(
    shared: &Shared,
    job: &JobInfo,
    root: &Path,
    mapping: &Mapping,
    sources: &SourceSet,
) -> Result<bool, JobError> {
    let part_bytes = shared.config.partition_bytes;
    let [block] = mapping.sources.as_slice() else { return Ok(false) };
    if part_bytes == 0 || mapping.plan.entities.len() != 1 {
        return Ok(false);
    }
    // fill_down carries values from row to row: the file is read whole, in
    // order, by one worker.
    if mapping.plan.entities.iter().any(|e| e.columns.iter().any(|c| c.fill_down)) {
        return Ok(false);
    }
    let Some((_, path)) = sources.files().into_iter().find(|(n, _)| *n == block.name) else { return Ok(false) };
    if std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) <= part_bytes {
        return Ok(false);
    }
    let Some(index) = sources.csv_index(&block.name, part_bytes).map_err(fail)? else { return Ok(false) };
    if index.parts.len() < 2 {
        return Ok(false);
    }
    let file = path.strip_prefix(root).map_err(fail)?.to_string_lossy().replace('\\', "/");
    let mut plan = mapping.plan.clone();
    let open = |name: &str| sources.open(name);
    migrate_engine::load_rates(&mut plan, &open).await.map_err(fail)?;
    let decisions = migrate_engine::infer(&mut plan, &open).await.map_err(fail)?;
    let shown = job.shown();
    let source_info = SourceInfo {
        name: block.name.clone(),
        kind: "csv".into(),
        location: format!("{shown}{file}"),
        size: Some(index.size),
        sha256: Some(index.sha256.clone()),
        row_count: Some(index.parts.iter().map(|p| p.records).sum()),
        encoding: Some(index.pinned.encoding.clone()),
        encoding_confidence: None,
        delimiter: Some(index.pinned.delimiter.clone()),
        quoting: Some(index.pinned.quoting.as_str().to_string()),
        header: Some(index.header.clone()),
        ..SourceInfo::default()
    };
    let run_id = Uuid::new_v4();
    let parts: Vec<(i64, i64, i64)> =
        index.parts.iter().map(|p| (p.start as i64, p.end as i64, p.first_line as i64)).collect();
    let count = parts.len();
    let split = SplitPlan { run_id, source: block.name.clone(), file, decisions, index, source_info };
    let json = serde_json::to_value(&split).map_err(fail)?;
    PgSink::new(shared.config.db.clone()).prepare(run_id, &mapping.plan).await.map_err(fail)?;
    let worker = &shared.config.worker_id;
    if !ledger::split(&shared.pool, job.job_id, worker, run_id, &json, &parts).await.map_err(fail)? {
        return Err(fail("the job's lease was lost while splitting it"));
    }
    for part in 0..count {
        enqueue(shared, &Internal::Partition { job_id: job.job_id, part: i32::try_from(part).map_err(fail)? }).await?;
    }
    info!(run_id = %run_id, partitions = count, "split");
    Ok(true)
}

fn job_info(row: &ledger::JobRow) -> JobInfo {
    JobInfo {
        job_id: row.job_id,
        bucket: row.bucket.clone(),
        key: row.object_key.clone(),
        org: row.org_id,
        prefix: row.prefix.clone(),
        stored: !row.object_key.ends_with(&format!("/{MAPPING_FILE}")),
        follow: false,
    }
}

fn split_plan(row: &ledger::JobRow) -> Result<SplitPlan, JobError> {
    let plan = row.plan.clone().ok_or_else(|| fail("the job has no partition plan"))?;
    serde_json::from_value(plan).map_err(fail)
}

async fn load_row(shared: &Shared, job_id: Uuid) -> Result<Option<ledger::JobRow>, Handled> {
    match ledger::job(&shared.pool, job_id).await {
        Ok(row) => Ok(row),
        Err(e) => {
            error!(error = %shared.redactor.clean(&e.to_string()), "job ledger unavailable");
            Err(Handled::Retry(std::time::Duration::from_secs(5)))
        }
    }
}

/// A worker folder with the job's mapping in it, loaded and checked.
async fn mapping_in(shared: &Shared, job: &JobInfo, root: &Path) -> Result<(Mapping, SourceSet), JobError> {
    let key = mapping_key(shared, &job.prefix, job.org, job.stored);
    fetch(shared, &job.bucket, &key, &[], &mapping_path(root, job.stored)).await?;
    load_job_mapping(shared, root, &job.shown(), job.org, job.stored)
}

fn work_dir(shared: &Shared) -> Result<tempfile::TempDir, JobError> {
    std::fs::create_dir_all(&shared.config.work_dir).map_err(fail)?;
    tempfile::Builder::new().prefix("migrate-part-").tempdir_in(&shared.config.work_dir).map_err(fail)
}

/// Stages one partition (a message from `split`).
pub(crate) async fn stage(shared: &Shared, job_id: Uuid, part: i32, receipt: &str) -> Handled {
    let config = &shared.config;
    let row = match load_row(shared, job_id).await {
        Ok(Some(row)) => row,
        Ok(None) => return Handled::Done,
        Err(h) => return h,
    };
    if row.state == "failed" || row.state == "succeeded" {
        return Handled::Done;
    }
    let claimed = match ledger::claim_part(&shared.pool, job_id, part, &config.worker_id, config.lease).await {
        Ok(Ok(c)) => c,
        Ok(Err(NotClaimed::Finished(state))) => {
            // Staged before: make sure the publish was enqueued (the worker
            // that staged the last partition may have died before sending).
            if state == "staged" && row.phase == "publish" && row.state == "queued" {
                let _ = enqueue(shared, &Internal::Publish { job_id }).await;
            }
            return Handled::Done;
        }
        Ok(Err(NotClaimed::Held(left))) => return Handled::Retry(left + std::time::Duration::from_secs(1)),
        Err(e) => {
            error!(error = %shared.redactor.clean(&e.to_string()), "job ledger unavailable");
            return Handled::Retry(std::time::Duration::from_secs(5));
        }
    };
    let job = job_info(&row);
    let span = info_span!("job", job_id = %job_id, org_id = %job.org, partition = part, attempt = claimed.attempts);
    async {
        if claimed.attempts > config.max_attempts {
            let result = (Err(fail(format!("gave up after {} attempts", config.max_attempts))), 0.0);
            return settle_attempt(shared, &job, claimed.attempts, result, Lease::Part(job_id, part)).await;
        }
        info!("partition claimed");
        let (result, seconds) =
            with_heartbeat(shared, Lease::Part(job_id, part), receipt, stage_part(shared, &job, &row, &claimed)).await;
        match result {
            Ok(report) => {
                let json = serde_json::to_value(&report).unwrap_or_default();
                shared.metrics.partition_staged();
                match ledger::part_staged(&shared.pool, job_id, part, &config.worker_id, &json).await {
                    Ok(true) => {
                        info!("last partition staged: publish enqueued");
                        if let Err(JobError::Failed(e)) = enqueue(shared, &Internal::Publish { job_id }).await {
                            // The partition's message comes back and retries the send.
                            warn!(error = %e, "could not enqueue the publish");
                            return Handled::Retry(std::time::Duration::from_secs(5));
                        }
                        Handled::Done
                    }
                    Ok(false) => {
                        info!("partition staged");
                        Handled::Done
                    }
                    Err(e) => {
                        error!(error = %shared.redactor.clean(&e.to_string()), "could not record the partition");
                        Handled::Retry(std::time::Duration::from_secs(5))
                    }
                }
            }
            Err(e) => {
                settle_attempt(shared, &job, claimed.attempts, (Err(e), seconds), Lease::Part(job_id, part)).await
            }
        }
    }
    .instrument(span)
    .await
}

async fn stage_part(
    shared: &Shared,
    job: &JobInfo,
    row: &ledger::JobRow,
    claimed: &ledger::ClaimedPart,
) -> Result<RunReport, JobError> {
    let plan_of_split = split_plan(row)?;
    let dir = work_dir(shared)?;
    let root = dir.path();
    let shown = job.shown();
    let (mapping, mut sources) = mapping_in(shared, job, root).await?;
    sources.show_paths_as(root, &shown);
    if !mapping.errors.is_empty() {
        let message = place(root, &shown, &mapping.diagnostics(mapping.errors.clone()).render(false));
        return Err(crate::files::permanent(message));
    }
    let index = &plan_of_split.index;
    let (start, end) = (claimed.byte_start as u64, claimed.byte_end as u64);
    let part = index
        .parts
        .iter()
        .find(|p| p.start == start && p.end == end)
        .ok_or_else(|| fail("the partition is not in the job's index"))?;
    // The header bytes, then this partition's records.
    let file = crate::files::local_path(root, &plan_of_split.file).ok_or_else(|| fail("bad source path"))?;
    let key = format!("{}{}", job.prefix, plan_of_split.file);
    fetch(shared, &job.bucket, &key, &[(0, index.data_start), (start, end)], &file).await?;
    sources.pin_csv(&plan_of_split.source, &index.pinned, index.line_offset(part));
    let mut plan = mapping.plan.clone();
    migrate_engine::apply_decisions(&mut plan, &plan_of_split.decisions).map_err(fail)?;

    let out_dir = root.join(".out");
    let mut output = OutputDir::create(&out_dir).map_err(fail)?;
    let options = RunOptions {
        run_id: plan_of_split.run_id,
        mode: RunMode::StagePartition { seq_base: start, seq_end: end },
        mapping: migrate_engine::MappingInfo {
            name: plan.name.clone(),
            path: format!("s3://{}/{}", job.bucket, mapping_key(shared, &job.prefix, job.org, job.stored)),
            sha256: mapping.sha256.clone(),
        },
        dry_run: false,
        cancel: &shared.cancel,
    };
    let mut sink = PgSink::new(shared.config.db.clone());
    let open = |name: &str| sources.open(name);
    let result = migrate_engine::run(&plan, options, &open, &mut sink, &mut output).await;
    output.close().map_err(fail)?;
    let report = match result {
        Ok(report) => report,
        Err((_, migrate_engine::EngineError::Cancelled)) => return Err(JobError::Cancelled),
        Err((_, e)) => {
            let message = place(root, &shown, &e.to_string());
            return Err(if crate::files::run_error_is_permanent(&e) {
                crate::files::permanent(message)
            } else {
                fail(message)
            });
        }
    };
    // This partition's rejects, beside the run's results.
    let partial = format!("{}{RESULTS_DIR}/{}/partitions/{:04}/", job.prefix, plan_of_split.run_id, claimed.part);
    upload_results(shared, &job.bucket, &partial, &out_dir.join("rejects"), "rejects/").await?;
    Ok(report)
}

/// Publishes a split job whose partitions are all staged.
pub(crate) async fn publish(shared: &Shared, job_id: Uuid, receipt: &str) -> Handled {
    let config = &shared.config;
    let claimed = match ledger::claim_publish(&shared.pool, job_id, &config.worker_id, config.lease).await {
        Ok(Ok(c)) => c,
        Ok(Err(NotClaimed::Finished(_))) => return Handled::Done,
        Ok(Err(NotClaimed::Held(left))) => return Handled::Retry(left + std::time::Duration::from_secs(1)),
        Err(e) => {
            error!(error = %shared.redactor.clean(&e.to_string()), "job ledger unavailable");
            return Handled::Retry(std::time::Duration::from_secs(5));
        }
    };
    let row = match load_row(shared, job_id).await {
        Ok(Some(row)) => row,
        Ok(None) => return Handled::Done,
        Err(h) => return h,
    };
    let job = job_info(&row);
    let span = info_span!("job", job_id = %job_id, org_id = %job.org, phase = "publish", attempt = claimed.attempts);
    async {
        if claimed.attempts > config.max_attempts {
            let result = (Err(fail(format!("gave up after {} attempts", config.max_attempts))), 0.0);
            return settle_attempt(shared, &job, claimed.attempts, result, Lease::Job(job_id)).await;
        }
        info!("publish claimed");
        let result = with_heartbeat(shared, Lease::Job(job_id), receipt, publish_run(shared, &job, &row)).await;
        settle_attempt(shared, &job, claimed.attempts, result, Lease::Job(job_id)).await
    }
    .instrument(span)
    .await
}

async fn publish_run(shared: &Shared, job: &JobInfo, row: &ledger::JobRow) -> Result<Executed, JobError> {
    let split = split_plan(row)?;
    let dir = work_dir(shared)?;
    let root = dir.path();
    let (mapping, _) = mapping_in(shared, job, root).await?;
    let mut plan = mapping.plan.clone();
    migrate_engine::apply_decisions(&mut plan, &split.decisions).map_err(fail)?;
    let staged: Vec<RunReport> = ledger::staged_reports(&shared.pool, job.job_id)
        .await
        .map_err(fail)?
        .into_iter()
        .map(serde_json::from_value)
        .collect::<Result<_, _>>()
        .map_err(fail)?;
    if staged.len() != split.index.parts.len() {
        return Err(fail(format!("{} of {} partitions staged", staged.len(), split.index.parts.len())));
    }
    let out_dir = root.join(".out");
    let mut output = OutputDir::create(&out_dir).map_err(fail)?;
    let options = RunOptions {
        run_id: split.run_id,
        mode: RunMode::Whole,
        mapping: migrate_engine::MappingInfo {
            name: plan.name.clone(),
            path: String::new(),
            sha256: mapping.sha256.clone(),
        },
        dry_run: false,
        cancel: &shared.cancel,
    };
    let mut sink = PgSink::new(shared.config.db.clone());
    let result = migrate_engine::publish_staged(
        &plan,
        options,
        &staged,
        vec![split.source_info.clone()],
        &mut sink,
        &mut output,
    )
    .await;
    output.close().map_err(fail)?;
    let mut report = match result {
        Ok(report) => report,
        Err((_, migrate_engine::EngineError::Cancelled)) => return Err(JobError::Cancelled),
        Err((_, e)) => {
            let permanent = crate::files::run_error_is_permanent(&e);
            return Err(if permanent { crate::files::permanent(e) } else { fail(e) });
        }
    };
    locate_report(&mut report, shared, job, root);
    write_report(&out_dir, &report).map_err(fail)?;
    let results = format!("{}{RESULTS_DIR}/{}/", job.prefix, split.run_id);
    upload_results(shared, &job.bucket, &results, &out_dir, "").await?;
    let (summary, rows) = summary(&report);
    Ok(Executed::Finished(Outcome { state: "succeeded", run_id: Some(split.run_id), error: None, summary, rows }))
}

/// A split job failed for good: its run is abandoned (staging dropped,
/// recorded failed). Nothing to do for a job that ran whole.
pub(crate) async fn abandon_run(shared: &Shared, job: &JobInfo) {
    let Ok(Some(row)) = ledger::job(&shared.pool, job.job_id).await else { return };
    if row.phase == "whole" {
        return;
    }
    let Ok(split) = split_plan(&row) else { return };
    let abandoned = async {
        let dir = work_dir(shared)?;
        let (mapping, _) = mapping_in(shared, job, dir.path()).await?;
        let mut sink = PgSink::new(shared.config.db.clone());
        sink.attach(split.run_id, &mapping.plan, 0..0).await.map_err(fail)?;
        sink.abandon(migrate_engine::RunStatus::Failed, "a partition failed for good").await.map_err(fail)
    };
    if let Err(JobError::Failed(e) | JobError::Permanent(e)) = abandoned.await {
        warn!(error = %shared.redactor.clean(&e), "could not abandon the split run; `migrate runs clean` drops its staging");
    }
}
