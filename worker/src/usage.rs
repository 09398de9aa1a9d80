//! `migrate-worker --help` and `--version`: the worker is configured from
//! the environment only, so its usage is the list of variables.

/// (variable, default, meaning): every setting the worker reads.
pub const SETTINGS: &[(&str, &str, &str)] = &[
    (
        "DATABASE_URL",
        "",
        "the platform database (or DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD, DB_SSLMODE, DB_SSLROOTCERT; any of them as X_FILE: a file holding the value)",
    ),
    ("QUEUE_URL", "required", "the SQS queue S3 notifies"),
    ("DEAD_LETTER_QUEUE_URL", "none", "where a job's message goes after its last failed attempt"),
    ("NOTIFY_QUEUE_URL", "none", "one message per finished job"),
    ("WEBHOOK_URL", "none", "also POST each notification here, signed (X-Migrate-Signature)"),
    ("WEBHOOK_SECRET", "required with WEBHOOK_URL", "the HMAC-SHA256 key of the signature"),
    ("WEBHOOK_ATTEMPTS", "5", "deliveries before a notification is given up"),
    ("WEBHOOK_RETRY_SECS", "1", "the first wait between deliveries, doubled each time, at most 60"),
    ("AWS_REGION", "us-east-1", ""),
    ("AWS_ENDPOINT_URL", "none", "an S3/SQS-compatible endpoint"),
    ("MAPPINGS_PREFIX", "mappings/", "where stored tenant mappings live"),
    ("HTTP_ADDR", "0.0.0.0:8080", "/livez, /readyz, /metrics"),
    ("JOB_LEASE_SECS", "60", "lease and SQS visibility, renewed every third of it"),
    ("SYNC_FOLLOW_SECS", "5", "how long a follow sync, caught up, waits before it reads again"),
    ("MAX_ATTEMPTS", "3", "attempts before a job fails for good"),
    ("RETRY_DELAY_SECS", "30", "times the attempts so far"),
    ("SHUTDOWN_GRACE_SECS", "30", "how long a job may finish after SIGTERM"),
    ("PARTITION_BYTES", "268435456", "split CSVs larger than this; 0 never splits"),
    ("MAX_JOB_BYTES", "10 GiB", "the most a job may download"),
    ("MEMORY_BUDGET", "2 GiB", "memory one job may use: 1 GiB for the pipeline, the rest for a workbook held whole"),
    ("MAX_UNPACKED_BYTES", "2 GiB", "ceiling on an uploaded mapping's max_unpacked_bytes"),
    ("MAX_WHOLE_FILE_BYTES", "100 MB", "ceiling on max_whole_file_bytes"),
    ("MAX_FIELD_BYTES", "1 MiB", "ceiling on max_field_bytes"),
    ("MAX_DOCUMENT_BYTES", "48 MiB", "ceiling on max_document_bytes"),
    ("MAX_DEPTH", "256", "ceiling on max_depth"),
    ("MAX_BATCH_ROWS", "10000", "ceiling on batch sizes and sample"),
    ("WORK_DIR", "the temp dir", "where jobs download their files"),
    ("WORKER_ID", "host name and pid", "the lease owner's name"),
    ("POLL_WAIT_SECS", "20", "SQS long-poll wait"),
    ("LOG_LEVEL", "info", "a tracing filter"),
];

/// The text of `--help`.
pub fn usage() -> String {
    let mut out = String::from(
        "migrate-worker: runs a migration job for each upload S3 announces on an SQS queue.\n\n\
         Usage: migrate-worker            (configured from the environment only)\n       \
         migrate-worker --help | --version\n\nEnvironment:\n",
    );
    let width = SETTINGS.iter().map(|(n, _, _)| n.len()).max().unwrap_or(0);
    for (name, default, meaning) in SETTINGS {
        let default = if default.is_empty() { String::new() } else { format!("[{default}] ") };
        out.push_str(&format!("  {name:<width$}  {default}{meaning}\n"));
    }
    out.push_str(
        "\nEndpoints (HTTP_ADDR): /livez (alive), /readyz (database and queue answer; 503 with the reason),\n\
         /metrics (Prometheus).\n\n\
         Exit codes: 0 stopped (SIGTERM), 2 bad configuration or usage.\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_is_in_the_readme_and_the_usage() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap_or_default();
        let table = readme.split("### Configuration (environment only)").nth(1).unwrap_or_default();
        let text = usage();
        for (name, _, _) in SETTINGS {
            assert!(table.contains(&format!("`{name}`")), "{name} is not in the README's configuration table");
            assert!(text.contains(name), "{name}");
        }
    }
}
