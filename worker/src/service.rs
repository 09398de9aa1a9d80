//! The worker loop: long-poll the queue, turn each S3 event into a job,
//! claim it in the ledger, run it with the same wiring as `migrate run`,
//! put the results back in S3, notify, and only then delete the message.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::Message;
use migrate_app::{OutputDir, RunRequest, check_mapping_within, run_mapping, write_report};
use migrate_engine::{EngineError, RunReport};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tokio::sync::watch;
use tracing::{Instrument, error, info, info_span, warn};
use uuid::Uuid;

use crate::config::WorkerConfig;
use crate::event::{Upload, parse};
use crate::files::{JobError, download, fail, load_job_mapping, mapping_path, upload_results};
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
    pub metrics: Arc<Metrics>,
    pub redactor: Redactor,
    /// True once SIGTERM arrived: no new message is taken.
    pub stopping: watch::Sender<bool>,
    /// Cancels the job under way: its run publishes nothing.
    pub cancel: Arc<AtomicBool>,
    /// The signed webhook, when `WEBHOOK_URL` is set.
    pub webhook: Option<Arc<crate::webhook::Webhook>>,
    /// Webhook deliveries under way: they go on beside the jobs, and the
    /// worker waits for them (within the grace period) before it exits.
    pub deliveries: std::sync::Mutex<tokio::task::JoinSet<()>>,
}

impl Shared {
    pub async fn connect(config: WorkerConfig, redactor: Redactor) -> anyhow::Result<Arc<Self>> {
        // Connected on first use: a database that is down when the worker
        // starts is waited for (see `run`), and `/readyz` says why.
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy_with(config.db.options.clone());
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
        let webhook = match &config.webhook {
            Some(w) => Some(Arc::new(crate::webhook::Webhook::new(w.clone())?)),
            None => None,
        };
        Ok(Arc::new(Self {
            config,
            pool,
            s3,
            sqs,
            metrics: Arc::new(Metrics::default()),
            redactor,
            stopping,
            cancel: Arc::new(AtomicBool::new(false)),
            webhook,
            deliveries: std::sync::Mutex::new(tokio::task::JoinSet::new()),
        }))
    }

    /// Waits, at most `within`, for the webhook deliveries under way.
    pub async fn finish_deliveries(&self, within: Duration) {
        let mut set = match self.deliveries.lock() {
            Ok(mut d) => std::mem::take(&mut *d),
            Err(_) => return,
        };
        if set.is_empty() {
            return;
        }
        info!(deliveries = set.len(), "waiting for webhook deliveries");
        if tokio::time::timeout(within, async { while set.join_next().await.is_some() {} }).await.is_err() {
            warn!(left = set.len(), "webhook deliveries still under way at exit: not delivered");
        }
    }

    /// The database answers, in one plain sentence when it does not.
    pub async fn database_ready(&self) -> Result<(), String> {
        use sqlx::Connection;
        let said = |why: String| {
            self.redactor.clean(&format!("the database {} does not answer: {why}", self.config.db.display))
        };
        // An idle connection of the pool, else a fresh one, which fails at
        // once with the reason (a pool's acquire retries for its whole
        // timeout and hides it) and is closed after: a check never grows a
        // busy pool. While the pool has no connection at all, one is opened
        // into it once the database answers, for the next checks.
        let result = match self.pool.try_acquire() {
            Some(mut conn) => sqlx::query("SELECT 1").execute(&mut *conn).await.map(|_| ()),
            None => match tokio::time::timeout(
                Duration::from_secs(5),
                sqlx::PgConnection::connect_with(&self.config.db.options),
            )
            .await
            {
                Ok(Ok(conn)) => {
                    let closed = conn.close().await;
                    if closed.is_ok() && self.pool.size() == 0 {
                        let _ = tokio::time::timeout(Duration::from_secs(1), self.pool.acquire()).await;
                    }
                    closed
                }
                Ok(Err(e)) => Err(e),
                Err(_) => return Err(said("no answer within 5 s".to_string())),
            },
        };
        result.map_err(|e| said(plain_db(&e, &self.config.db)))
    }

    /// The database and the queue answer.
    pub async fn ready(&self) -> Result<(), String> {
        self.database_ready().await?;
        self.sqs.get_queue_attributes().queue_url(&self.config.queue_url).send().await.map_err(|e| {
            use aws_sdk_sqs::error::ProvideErrorMetadata;
            let why = match &e {
                aws_sdk_sqs::error::SdkError::DispatchFailure(_) => "it cannot be reached".to_string(),
                aws_sdk_sqs::error::SdkError::TimeoutError(_) => "it timed out".to_string(),
                other => match (other.code(), other.message()) {
                    (Some(code), Some(message)) => format!("{code}: {message}"),
                    (Some(code), None) => code.to_string(),
                    _ => "it gave no reason".to_string(),
                },
            };
            self.redactor.clean(&format!("the queue QUEUE_URL = {} does not answer: {why}", self.config.queue_url))
        })?;
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

/// A database error as one short clause (no driver dump).
fn plain_db(e: &sqlx::Error, db: &migrate_postgres::ConnectionConfig) -> String {
    match e {
        sqlx::Error::PoolTimedOut => "no connection within 10 s".to_string(),
        // The same sentence `migrate` gives: the cause and the setting
        // (a refused certificate names DB_SSLROOTCERT or sslrootcert).
        other => db.explain(other),
    }
}

/// Waits, with backoff up to 30 s, until the database answers; `false` when
/// SIGTERM came first. Jobs need the ledger: none is taken before.
async fn wait_for_database(shared: &Shared, stop: &mut watch::Receiver<bool>) -> bool {
    let mut delay = Duration::from_secs(1);
    loop {
        match shared.database_ready().await {
            Ok(()) => return true,
            Err(why) => {
                warn!(error = %why, retry_secs = delay.as_secs(), "waiting for the database");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.wait_for(|s| *s) => return false,
                }
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// Takes messages until SIGTERM.
pub async fn run(shared: Arc<Shared>) {
    let mut stop = shared.stopping.subscribe();
    loop {
        if *stop.borrow() {
            break;
        }
        if !wait_for_database(&shared, &mut stop).await {
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
        // A poll under way is let finish (at most POLL_WAIT_SECS), even at
        // SIGTERM: dropped, the queue may still have handed it a message,
        // hidden then for the whole lease with no one to run it.
        let received = receive.await;
        match received {
            Ok(out) => {
                for message in out.messages() {
                    if *stop.borrow() {
                        hand_back(&shared, message).await;
                        continue;
                    }
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
pub(crate) enum Handled {
    /// Nothing more to do with it (ran, duplicate, not a job).
    Done,
    /// Show the message again after this long.
    Retry(Duration),
    /// Failed for good: the message goes to the dead-letter queue.
    DeadLetter,
}

/// Messages workers send each other on the upload queue: a partition to
/// stage, or a split job to publish.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "migrate", rename_all = "snake_case")]
pub(crate) enum Internal {
    Partition {
        job_id: Uuid,
        part: i32,
    },
    Publish {
        job_id: Uuid,
    },
    /// A delta run of the tenant's stored mapping (its incremental sources
    /// read from their marks): what a scheduler sends, or a sync that
    /// stopped at its batch's cap sends itself. `request` names the
    /// request (one job per request); the message's id when absent.
    Sync {
        bucket: String,
        org_id: Uuid,
        #[serde(default)]
        request: Option<String>,
        /// Keep reading while the job holds its lease (see `execute`).
        #[serde(default)]
        follow: bool,
    },
}

/// The job prefix of a tenant's sync runs: their results go under its
/// `_results/`.
pub(crate) const SYNC_DIR: &str = "_sync";

pub(crate) async fn enqueue(shared: &Shared, message: &Internal) -> Result<(), JobError> {
    let body = serde_json::to_string(message).map_err(fail)?;
    shared
        .sqs
        .send_message()
        .queue_url(&shared.config.queue_url)
        .message_body(body)
        .send()
        .await
        .map_err(|e| fail(format!("enqueueing: {}", aws_sdk_sqs::error::DisplayErrorContext(e))))?;
    Ok(())
}

async fn handle_message(shared: &Shared, message: &Message) {
    shared.metrics.message();
    let body = message.body().unwrap_or_default();
    let Some(receipt) = message.receipt_handle() else { return };
    let outcomes = if let Ok(internal) = serde_json::from_str::<Internal>(body) {
        vec![match internal {
            Internal::Partition { job_id, part } => crate::partition::stage(shared, job_id, part, receipt).await,
            Internal::Publish { job_id } => crate::partition::publish(shared, job_id, receipt).await,
            Internal::Sync { bucket, org_id, request, follow } => {
                let request = request.or_else(|| message.message_id().map(str::to_string)).unwrap_or_default();
                handle_sync(shared, &bucket, org_id, &request, follow, receipt).await
            }
        }]
    } else {
        let uploads = match parse(body) {
            Ok(u) => u,
            Err(e) => {
                warn!(error = %e, "unreadable message: dead-lettered");
                dead_letter(shared, body).await;
                delete(shared, receipt).await;
                return;
            }
        };
        let mut outcomes = Vec::new();
        for upload in &uploads {
            outcomes.push(handle_upload(shared, upload, receipt).await);
        }
        outcomes
    };
    let mut retry: Option<Duration> = None;
    let mut dead = false;
    for outcome in outcomes {
        match outcome {
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

/// A message received but not started, at shutdown: visible again at once
/// for another worker.
async fn hand_back(shared: &Shared, message: &Message) {
    let Some(receipt) = message.receipt_handle() else { return };
    let result = shared
        .sqs
        .change_message_visibility()
        .queue_url(&shared.config.queue_url)
        .receipt_handle(receipt)
        .visibility_timeout(0)
        .send()
        .await;
    match result {
        Ok(_) => info!("shutting down: a message received but not started is visible again"),
        Err(e) => warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "could not hand a message back"),
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

/// Which job, for messages, the ledger and the notification.
#[derive(Debug, Clone)]
pub(crate) struct JobInfo {
    pub job_id: Uuid,
    pub bucket: String,
    pub key: String,
    pub org: Uuid,
    pub prefix: String,
    /// The tenant's stored mapping, not one uploaded with the data.
    pub stored: bool,
    /// A sync that reads on until the worker stops (see `execute`).
    pub follow: bool,
}

impl JobInfo {
    /// How messages name the job's folder: its S3 prefix.
    pub fn shown(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }
}

async fn handle_upload(shared: &Shared, upload: &Upload, receipt: &str) -> Handled {
    let (org, prefix, stored) = match classify(&upload.key) {
        Trigger::Ignore(why) => {
            info!(key = %upload.key, why = %why, "not a job");
            if upload.key.rsplit('/').next() == Some(MAPPING_FILE) {
                notify_ignored(shared, upload, &why).await;
            }
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
    claim_and_run(shared, upload, org, prefix, stored, false, receipt).await
}

/// A sync request: a job of the tenant's stored mapping, with no files of
/// its own (its sources are databases), identified by the request.
async fn handle_sync(shared: &Shared, bucket: &str, org: Uuid, request: &str, follow: bool, receipt: &str) -> Handled {
    if !stored_mapping_exists(shared, bucket, org).await {
        warn!(org_id = %org, "a sync request for an org without a stored mapping: dead-lettered");
        return Handled::DeadLetter;
    }
    let upload = Upload {
        bucket: bucket.to_string(),
        key: format!("{}{org}.toml", shared.config.mappings_prefix),
        version: format!("sync:{request}"),
        size: 0,
    };
    claim_and_run(shared, &upload, org, format!("tenants/{org}/{SYNC_DIR}/"), true, follow, receipt).await
}

/// Claims the job `upload` starts in the ledger and runs it.
async fn claim_and_run(
    shared: &Shared,
    upload: &Upload,
    org: Uuid,
    prefix: String,
    stored: bool,
    follow: bool,
    receipt: &str,
) -> Handled {
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
    let job = JobInfo {
        job_id: claimed.job_id,
        bucket: upload.bucket.clone(),
        key: upload.key.clone(),
        org,
        prefix,
        stored,
        follow,
    };
    let span = info_span!("job", job_id = %claimed.job_id, org_id = %org, attempt = claimed.attempts);
    run_claimed(shared, &job, receipt, claimed).instrument(span).await
}

/// A job's end, as the ledger, the notification and the metrics see it.
pub(crate) struct Outcome {
    pub state: &'static str,
    pub run_id: Option<Uuid>,
    pub error: Option<String>,
    pub summary: serde_json::Value,
    pub rows: Vec<(&'static str, u64)>,
}

/// What running a claimed job came to.
pub(crate) enum Executed {
    Finished(Outcome),
    /// Split into partitions that any worker stages; published later.
    Split,
}

async fn run_claimed(shared: &Shared, job: &JobInfo, receipt: &str, claimed: Claimed) -> Handled {
    let config = &shared.config;
    // A worker that dies on a job (out of memory on a hostile upload) leaves
    // its lease to expire: the next claim says so, and counts it.
    let died = claimed
        .died
        .as_ref()
        .map(|w| format!("the worker processing it ({w}) died (attempt {})", claimed.attempts - 1));
    if let Some(why) = &died {
        warn!(error = %why, "taking over a job whose worker died");
    }
    if claimed.attempts > config.max_attempts {
        let error = match &died {
            Some(why) => format!("{why}; gave up after {} attempts", config.max_attempts),
            None => format!("gave up after {} attempts", config.max_attempts),
        };
        end_job(shared, job, claimed.attempts, failed(None, error)).await;
        return Handled::DeadLetter;
    }
    info!(key = %job.key, "job claimed");
    let last = claimed.attempts >= config.max_attempts;
    let result = with_heartbeat(shared, Lease::Job(job.job_id), receipt, execute(shared, job, last)).await;
    settle_attempt(shared, job, claimed.attempts, result, Lease::Job(job.job_id)).await
}

/// Records how an attempt at a job (or its publish) ended.
pub(crate) async fn settle_attempt(
    shared: &Shared,
    job: &JobInfo,
    attempts: i32,
    result: (Result<Executed, JobError>, f64),
    lease: Lease,
) -> Handled {
    let config = &shared.config;
    let (result, seconds) = result;
    match result {
        Ok(Executed::Finished(outcome)) => {
            shared.metrics.job_ended(outcome.state, seconds, &outcome.rows);
            end_job(shared, job, attempts, outcome).await;
            Handled::Done
        }
        Ok(Executed::Split) => {
            shared.metrics.job_split();
            info!("job split into partitions");
            Handled::Done
        }
        Err(JobError::Cancelled) => {
            info!("cancelled at shutdown: handed back");
            if let Err(e) = release(shared, lease, None, false).await {
                error!(error = %shared.redactor.clean(&e.to_string()), "could not hand the work back; its lease will expire");
            }
            Handled::Retry(Duration::ZERO)
        }
        Err(error @ (JobError::Failed(_) | JobError::Permanent(_) | JobError::Run { .. })) => {
            let (run_id, error) = match error {
                JobError::Run { run_id, error } => (run_id, *error),
                other => (None, other),
            };
            let (message, is_permanent) = match error {
                JobError::Permanent(m) => (m, true),
                JobError::Failed(m) => (m, false),
                JobError::Cancelled | JobError::Run { .. } => (String::new(), false),
            };
            let message = shared.redactor.clean(&message);
            shared.metrics.attempt_failed();
            if is_permanent || attempts >= config.max_attempts {
                error!(error = %message, permanent = is_permanent, "failed for good");
                shared.metrics.job_ended("failed", seconds, &[]);
                if let Lease::Part(..) = lease {
                    let _ = release(shared, lease, Some(&message), true).await;
                }
                crate::partition::abandon_run(shared, job).await;
                let error = if is_permanent {
                    format!("{message} (not retried: the upload itself must change)")
                } else {
                    format!("{message} (after {attempts} attempts)")
                };
                if let Lease::Part(_, part) = lease {
                    let error = format!("partition {part}: {error}");
                    let summary = serde_json::json!({ "status": "failed", "error": error });
                    if let Ok(true) = ledger::fail_job(&shared.pool, job.job_id, &error, &summary).await {
                        notify(shared, job, attempts, &failed(None, error)).await;
                    }
                } else {
                    end_job(shared, job, attempts, failed(run_id, error)).await;
                }
                // The dead-letter queue is for what the operator must look
                // at; a customer's bad upload is told to the customer.
                if is_permanent { Handled::Done } else { Handled::DeadLetter }
            } else {
                warn!(error = %message, "attempt failed: will retry");
                if let Err(e) = release(shared, lease, Some(&message), false).await {
                    error!(error = %shared.redactor.clean(&e.to_string()), "could not record the failure");
                }
                Handled::Retry(config.retry_delay * u32::try_from(attempts).unwrap_or(1))
            }
        }
    }
}

async fn release(shared: &Shared, lease: Lease, error: Option<&str>, fail_for_good: bool) -> Result<(), sqlx::Error> {
    let worker = &shared.config.worker_id;
    match lease {
        Lease::Job(job) => ledger::release(&shared.pool, job, worker, error).await,
        Lease::Part(job, part) => ledger::release_part(&shared.pool, job, part, worker, error, fail_for_good).await,
    }
}

pub(crate) fn failed(run_id: Option<Uuid>, error: String) -> Outcome {
    Outcome {
        state: "failed",
        run_id,
        summary: serde_json::json!({ "status": "failed", "error": error }),
        error: Some(error),
        rows: Vec::new(),
    }
}

/// Records the end in the ledger and sends the notification.
pub(crate) async fn end_job(shared: &Shared, job: &JobInfo, attempts: i32, outcome: Outcome) {
    let recorded = ledger::finish(
        &shared.pool,
        job.job_id,
        &shared.config.worker_id,
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
    notify(shared, job, attempts, &outcome).await;
}

async fn notify(shared: &Shared, job: &JobInfo, attempts: i32, outcome: &Outcome) {
    let prefix = &job.prefix;
    let note = serde_json::json!({
        "job_id": job.job_id,
        "bucket": job.bucket,
        "key": job.key,
        "prefix": prefix,
        "state": outcome.state,
        "attempts": attempts,
        "run_id": outcome.run_id,
        "results": outcome.run_id.map(|r| format!("s3://{}/{prefix}{RESULTS_DIR}/{r}/", job.bucket)),
        "summary": outcome.summary,
    });
    send_note(shared, &note).await;
}

/// A `mapping.toml` that starts no job (its key is not a job's place):
/// the customer meant a job, so they are told why there is none. Other
/// ignored keys (the worker's own results, files waiting for a mapping)
/// are not told.
async fn notify_ignored(shared: &Shared, upload: &Upload, why: &str) {
    let note = serde_json::json!({
        "job_id": null,
        "bucket": upload.bucket,
        "key": upload.key,
        "state": "ignored",
        "reason": format!("{why}: a job's mapping goes at tenants/{{org_id}}/{{job}}/{MAPPING_FILE}"),
    });
    send_note(shared, &note).await;
}

/// Sends a notification to the queue and, when set, the webhook.
async fn send_note(shared: &Shared, note: &serde_json::Value) {
    let body = note.to_string();
    if let Some(webhook) = &shared.webhook {
        let (webhook, body, metrics) = (webhook.clone(), body.clone(), shared.metrics.clone());
        if let Ok(mut set) = shared.deliveries.lock() {
            set.spawn(async move {
                webhook.deliver(&body, &metrics).await;
            });
            // Finished deliveries are let go of here.
            while set.try_join_next().is_some() {}
        }
    }
    let Some(url) = &shared.config.notify_queue_url else { return };
    if let Err(e) = shared.sqs.send_message().queue_url(url).message_body(body).send().await {
        error!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "could not send the notification");
    }
}

/// What a worker holds while it works.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Lease {
    Job(Uuid),
    Part(Uuid, i32),
}

/// Runs `work` while renewing the lease and the message's visibility; if
/// the lease is lost, cancels the run (another worker has the work).
/// Returns the result and the seconds it took.
pub(crate) async fn with_heartbeat<T>(
    shared: &Shared,
    lease: Lease,
    receipt: &str,
    work: impl std::future::Future<Output = T>,
) -> (T, f64) {
    shared.cancel.store(false, Ordering::Relaxed);
    let beat = tokio::spawn(heartbeat(
        shared.pool.clone(),
        shared.sqs.clone(),
        shared.config.clone(),
        lease,
        receipt.to_string(),
        shared.cancel.clone(),
    ));
    let started = Instant::now();
    let result = work.await;
    beat.abort();
    (result, started.elapsed().as_secs_f64())
}

async fn heartbeat(
    pool: PgPool,
    sqs: aws_sdk_sqs::Client,
    config: WorkerConfig,
    lease: Lease,
    receipt: String,
    cancel: Arc<AtomicBool>,
) {
    loop {
        tokio::time::sleep(config.lease / 3).await;
        let renewed = match lease {
            Lease::Job(job) => ledger::renew(&pool, job, &config.worker_id, config.lease).await,
            Lease::Part(job, part) => ledger::renew_part(&pool, job, part, &config.worker_id, config.lease).await,
        };
        match renewed {
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

pub(crate) fn summary(report: &RunReport) -> (serde_json::Value, Vec<(&'static str, u64)>) {
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

/// Names the job's S3 objects instead of the worker's folder in `text`.
pub(crate) fn place(root: &std::path::Path, shown: &str, text: &str) -> String {
    text.replace(&format!("{}/", root.display()), shown)
}

/// Downloads the job's files, loads and checks its mapping as untrusted
/// input, and runs it, split into partitions when its one CSV is large;
/// puts the results back.
async fn execute(shared: &Shared, job: &JobInfo, last_attempt: bool) -> Result<Executed, JobError> {
    let config = &shared.config;
    let bucket = &job.bucket;
    std::fs::create_dir_all(&config.work_dir).map_err(fail)?;
    let dir = tempfile::Builder::new().prefix("migrate-job-").tempdir_in(&config.work_dir).map_err(fail)?;
    let root = dir.path().to_path_buf();
    let shown = job.shown();
    let files = download(shared, bucket, &job.prefix, &root).await?;
    info!(files = files.len(), "downloaded");
    if job.stored {
        let key = crate::files::mapping_key(shared, &job.prefix, job.org, true);
        crate::files::fetch(shared, bucket, &key, &[], &mapping_path(&root, true)).await?;
    }
    let (mapping, _) = load_job_mapping(shared, &root, &shown, job.org, job.stored)?;
    // The limits a mapping leaves out take the worker's ceilings (what an
    // uploaded one sets above them was refused above).
    let (sources, diagnostics) = check_mapping_within(&mapping, Some(&config.ceilings)).await;
    let Some(mut sources) = sources else {
        // An uploaded mapping comes last, after its data: what it names is
        // there or never will be. A stored mapping's job starts at any
        // upload, perhaps before the other files: it may be retried.
        let message = place(&root, &shown, &diagnostics.render(false));
        return Err(if job.stored { fail(message) } else { crate::files::permanent(message) });
    };
    // Rows are located by the S3 key they came from, not the worker's folder.
    sources.show_paths_as(&root, &shown);
    if crate::partition::split(shared, job, &root, &mapping, &sources).await? {
        return Ok(Executed::Split);
    }
    if !job.follow {
        return run_once(shared, job, &root, &mapping, &sources, last_attempt).await.map(|(executed, _)| executed);
    }
    // A follow job reads on while it holds its lease: another run at once
    // when the sources are behind, after the interval when caught up. At
    // shutdown the run in hand is finished and published (within the
    // grace period), and the job is handed back, to go on from its mark on
    // another worker.
    let stopping = || *shared.stopping.borrow() || shared.cancel.load(std::sync::atomic::Ordering::Relaxed);
    loop {
        let (_, behind) = run_once(shared, job, &root, &mapping, &sources, last_attempt).await?;
        if stopping() {
            info!("shutting down: the follow sync is handed over after its last run");
            return Err(JobError::Cancelled);
        }
        if behind {
            continue;
        }
        let until = tokio::time::Instant::now() + config.follow_interval;
        while tokio::time::Instant::now() < until {
            if stopping() {
                info!("shutting down: the follow sync is handed over");
                return Err(JobError::Cancelled);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// One run of the job's mapping, its results put back. Also says whether
/// an incremental source stopped at its batch's cap (more to read).
async fn run_once(
    shared: &Shared,
    job: &JobInfo,
    root: &std::path::Path,
    mapping: &migrate_mappings::Mapping,
    sources: &migrate_app::SourceSet,
    last_attempt: bool,
) -> Result<(Executed, bool), JobError> {
    let (config, bucket, shown) = (&shared.config, &job.bucket, job.shown());
    let root = root.to_path_buf();
    let run_id = Uuid::new_v4();
    let out_dir = root.join(".out");
    // Each run's files only.
    let _ = std::fs::remove_dir_all(&out_dir);
    let mut output = OutputDir::create(&out_dir).map_err(fail)?;
    let request = RunRequest { run_id, dry_run: false, cancel: &shared.cancel };
    let (mut report, error) = run_mapping(mapping, sources, config.db.clone(), request, &mut output).await;
    if matches!(error, Some(EngineError::Cancelled)) {
        return Err(JobError::Cancelled);
    }
    output.close().map_err(fail)?;
    // A sync that stopped at its batch's cap asks for the next batch.
    let behind = report.sources.iter().any(|s| s.window.as_ref().is_some_and(|w| w.caught_up == Some(false)));
    if error.is_none() && behind && !job.follow && job.prefix.ends_with(&format!("/{SYNC_DIR}/")) {
        let next = Internal::Sync {
            bucket: job.bucket.clone(),
            org_id: job.org,
            request: Some(run_id.to_string()),
            follow: false,
        };
        enqueue(shared, &next).await?;
        info!("the sources are not caught up: the next sync is queued");
    }
    locate_report(&mut report, shared, job, &root);
    write_report(&out_dir, &report).map_err(fail)?;
    // A job's results are written once: by the attempt that succeeds, or
    // by the one that fails for good (not by each attempt that is retried).
    let permanent = error.as_ref().is_some_and(crate::files::run_error_is_permanent);
    let written = error.is_none() || permanent || last_attempt;
    if written {
        let results = format!("{}{RESULTS_DIR}/{run_id}/", job.prefix);
        upload_results(shared, bucket, &results, &out_dir, "").await?;
    }
    let (summary, rows) = summary(&report);
    match error {
        None => Ok((
            Executed::Finished(Outcome { state: "succeeded", run_id: Some(run_id), error: None, summary, rows }),
            behind,
        )),
        // A run that ended with a report is retried when the systems it
        // uses failed it (a database error mid-run): nothing of it was
        // published. One its input failed (a reject budget exceeded) is not.
        Some(e) => {
            let message = format!("run {run_id}: {}", place(&root, &shown, &e.to_string()));
            let error = if permanent { crate::files::permanent(message) } else { fail(message) };
            Err(JobError::Run { run_id: written.then_some(run_id), error: Box::new(error) })
        }
    }
}

/// The report names S3 objects, not the worker's folder, and no secret.
pub(crate) fn locate_report(report: &mut RunReport, shared: &Shared, job: &JobInfo, root: &std::path::Path) {
    let shown = &job.shown();
    report.mapping.path =
        format!("s3://{}/{}", job.bucket, crate::files::mapping_key(shared, &job.prefix, job.org, job.stored));
    for s in &mut report.sources {
        s.location = place(root, shown, &s.location);
    }
    for e in &mut report.entities {
        for example in e.rejects_by_reason.iter_mut().flat_map(|r| r.examples.iter_mut()) {
            example.location = place(root, shown, &example.location);
            example.message = place(root, shown, &example.message);
        }
    }
    if let Some(e) = &mut report.error {
        *e = shared.redactor.clean(&place(root, shown, e));
    }
}
