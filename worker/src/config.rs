//! The worker's configuration: the environment only (12-factor).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use migrate_postgres::ConnectionConfig;

/// Every setting, read once at start.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// `DATABASE_URL`, or `DB_HOST`, `DB_PORT`, `DB_NAME`, `DB_USER`,
    /// `DB_PASSWORD`, `DB_SSLMODE`.
    pub db: ConnectionConfig,
    /// `QUEUE_URL`: the SQS queue S3 sends its event notifications to.
    pub queue_url: String,
    /// `DEAD_LETTER_QUEUE_URL`: where a job's message goes once it has
    /// failed `MAX_ATTEMPTS` times. Without it the message is deleted (the
    /// job row keeps the error).
    pub dead_letter_queue_url: Option<String>,
    /// `NOTIFY_QUEUE_URL`: a queue that receives one message per finished
    /// job (status and counts).
    pub notify_queue_url: Option<String>,
    /// `AWS_ENDPOINT_URL`: an S3/SQS-compatible endpoint (tests, MinIO).
    pub aws_endpoint: Option<String>,
    /// `AWS_REGION` (default `us-east-1`).
    pub region: String,
    /// `MAPPINGS_PREFIX` (default `mappings/`): where a tenant's stored
    /// mapping lives, as `{prefix}{org_id}.toml` in the upload's bucket.
    pub mappings_prefix: String,
    /// `HTTP_ADDR` (default `0.0.0.0:8080`): /livez, /readyz, /metrics.
    pub http_addr: SocketAddr,
    /// `JOB_LEASE_SECS` (default 60): how long a job stays claimed without
    /// a heartbeat; also the SQS visibility the worker keeps extending.
    pub lease: Duration,
    /// `SYNC_FOLLOW_SECS` (default 5): how long a follow sync waits, once
    /// caught up, before it reads again.
    pub follow_interval: Duration,
    /// `MAX_ATTEMPTS` (default 3): failed attempts before a job is failed
    /// for good and its message dead-lettered.
    pub max_attempts: i32,
    /// `RETRY_DELAY_SECS` (default 30): a failed attempt's message comes
    /// back after this many seconds times the attempts so far.
    pub retry_delay: Duration,
    /// `SHUTDOWN_GRACE_SECS` (default 30): on SIGTERM, how long the current
    /// job may take to finish before it is cancelled and handed back.
    pub shutdown_grace: Duration,
    /// `PARTITION_BYTES` (default 256 MiB; 0: never split): a job whose one
    /// source is a CSV larger than this is split into partitions of about
    /// this size, staged by any worker and published together.
    pub partition_bytes: u64,
    /// `MAX_JOB_BYTES` (default 10 GiB): the most a job may download.
    pub max_job_bytes: u64,
    /// `WORK_DIR` (default the system's temporary directory).
    pub work_dir: PathBuf,
    /// `WORKER_ID` (default host name and process id): the lease owner.
    pub worker_id: String,
    /// `POLL_WAIT_SECS` (default 20): SQS long-poll wait.
    pub poll_wait_secs: i32,
    /// `MEMORY_BUDGET` (default 2 GiB): the memory one job may use. The
    /// pipeline's batches take [`PIPELINE_BYTES`]; the rest is what a
    /// workbook may hold whole (`max_memory_bytes`).
    pub memory_budget: u64,
    /// The most an uploaded mapping's source limits may be.
    pub ceilings: migrate_app::Ceilings,
    /// `WEBHOOK_URL` with `WEBHOOK_SECRET`: notifications also POSTed,
    /// signed.
    pub webhook: Option<crate::webhook::WebhookConfig>,
}

/// What a job's pipeline holds at most, whatever the upload: the batches
/// in flight (read ahead, mapping, staging), each at most 8 MiB of text,
/// their copies while mapped and staged, and the rows a source reads ahead.
pub const PIPELINE_BYTES: u64 = 1 << 30;

/// The least `MEMORY_BUDGET` a worker starts with: the pipeline's share
/// and 64 MiB for a workbook's shared strings.
pub const MIN_MEMORY_BUDGET: u64 = PIPELINE_BYTES + (64 << 20);

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

fn number<T: std::str::FromStr>(
    env: &dyn Fn(&str) -> Option<String>,
    name: &str,
    default: T,
) -> Result<T, ConfigError> {
    match env(name).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| ConfigError(format!("{name} = {v:?} is not a number"))),
    }
}

impl WorkerConfig {
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let db = ConnectionConfig::from_env(env).map_err(|e| ConfigError(e.to_string()))?;
        let queue_url =
            env("QUEUE_URL").filter(|v| !v.is_empty()).ok_or_else(|| ConfigError("QUEUE_URL is not set".into()))?;
        let http_addr = env("HTTP_ADDR").unwrap_or_else(|| "0.0.0.0:8080".into());
        let http_addr =
            http_addr.parse().map_err(|_| ConfigError(format!("HTTP_ADDR = {http_addr:?} is not host:port")))?;
        let memory_budget = number(env, "MEMORY_BUDGET", 2u64 << 30)?;
        if memory_budget < MIN_MEMORY_BUDGET {
            return Err(ConfigError(format!(
                "MEMORY_BUDGET = {memory_budget} is less than the {MIN_MEMORY_BUDGET} bytes a job needs ({PIPELINE_BYTES} for the pipeline's batches, 64 MiB for a workbook)"
            )));
        }
        let webhook = match env("WEBHOOK_URL").filter(|v| !v.is_empty()) {
            None => None,
            Some(url) => {
                let parsed: hyper::Uri =
                    url.parse().map_err(|_| ConfigError(format!("WEBHOOK_URL = {url:?} is not a URL")))?;
                if !matches!(parsed.scheme_str(), Some("http" | "https")) || parsed.host().is_none() {
                    return Err(ConfigError(format!("WEBHOOK_URL = {url:?} is not an http:// or https:// URL")));
                }
                let secret = env("WEBHOOK_SECRET").filter(|v| !v.is_empty()).ok_or_else(|| {
                    ConfigError("WEBHOOK_URL is set but WEBHOOK_SECRET is not: deliveries are signed with it".into())
                })?;
                Some(crate::webhook::WebhookConfig {
                    url: parsed,
                    secret,
                    attempts: number(env, "WEBHOOK_ATTEMPTS", 5u32)?.max(1),
                    first_delay: Duration::from_secs(number(env, "WEBHOOK_RETRY_SECS", 1u64)?),
                })
            }
        };
        let host =
            std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
        Ok(Self {
            db,
            queue_url,
            dead_letter_queue_url: env("DEAD_LETTER_QUEUE_URL").filter(|v| !v.is_empty()),
            notify_queue_url: env("NOTIFY_QUEUE_URL").filter(|v| !v.is_empty()),
            aws_endpoint: env("AWS_ENDPOINT_URL").filter(|v| !v.is_empty()),
            region: env("AWS_REGION").filter(|v| !v.is_empty()).unwrap_or_else(|| "us-east-1".into()),
            mappings_prefix: env("MAPPINGS_PREFIX").unwrap_or_else(|| "mappings/".into()),
            http_addr,
            lease: Duration::from_secs(number(env, "JOB_LEASE_SECS", 60u64)?.max(2)),
            follow_interval: Duration::from_secs(number(env, "SYNC_FOLLOW_SECS", 5u64)?.max(1)),
            max_attempts: number(env, "MAX_ATTEMPTS", 3i32)?.max(1),
            retry_delay: Duration::from_secs(number(env, "RETRY_DELAY_SECS", 30u64)?),
            shutdown_grace: Duration::from_secs(number(env, "SHUTDOWN_GRACE_SECS", 30u64)?),
            partition_bytes: number(env, "PARTITION_BYTES", 256u64 << 20)?,
            max_job_bytes: number(env, "MAX_JOB_BYTES", 10u64 << 30)?,
            work_dir: env("WORK_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir),
            worker_id: env("WORKER_ID").unwrap_or_else(|| format!("{host}-{}", std::process::id())),
            poll_wait_secs: number(env, "POLL_WAIT_SECS", 20i32)?.clamp(0, 20),
            memory_budget,
            webhook,
            ceilings: {
                let d = migrate_app::Ceilings::default();
                migrate_app::Ceilings {
                    unpacked_bytes: number(env, "MAX_UNPACKED_BYTES", d.unpacked_bytes)?,
                    whole_file_bytes: number(env, "MAX_WHOLE_FILE_BYTES", d.whole_file_bytes)?,
                    field_bytes: number(env, "MAX_FIELD_BYTES", d.field_bytes)?,
                    document_bytes: number(env, "MAX_DOCUMENT_BYTES", d.document_bytes)?,
                    depth: number(env, "MAX_DEPTH", d.depth)?,
                    batch_rows: number(env, "MAX_BATCH_ROWS", d.batch_rows)?,
                    memory_bytes: memory_budget - PIPELINE_BYTES,
                }
            },
        })
    }
}
