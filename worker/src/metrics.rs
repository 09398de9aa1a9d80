//! Counters for `/metrics`, in the Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Jobs this process ended, by outcome.
    jobs: BTreeMap<String, u64>,
    /// Source rows of this process's runs, by outcome.
    rows: BTreeMap<String, u64>,
    duration_sum: f64,
    duration_count: u64,
    messages: u64,
    /// Attempts that failed and were retried or gave up.
    failed_attempts: u64,
    /// Partitions of split jobs this process staged, and jobs it split: the
    /// steps of a job, not jobs (its rows count once, when it ends).
    partitions_staged: u64,
    splits: u64,
    /// Webhook notifications by outcome (`delivered`, `failed`: given up),
    /// and deliveries that failed.
    webhooks: BTreeMap<String, u64>,
    webhook_failed_attempts: u64,
}

impl Metrics {
    pub fn message(&self) {
        if let Ok(mut m) = self.inner.lock() {
            m.messages += 1;
        }
    }

    /// An attempt failed (the job may be retried).
    pub fn attempt_failed(&self) {
        if let Ok(mut m) = self.inner.lock() {
            m.failed_attempts += 1;
        }
    }

    /// A job was split into partitions: it ends later, once published.
    pub fn job_split(&self) {
        if let Ok(mut m) = self.inner.lock() {
            m.splits += 1;
        }
    }

    /// A partition of a split job was staged.
    pub fn partition_staged(&self) {
        if let Ok(mut m) = self.inner.lock() {
            m.partitions_staged += 1;
        }
    }

    /// A webhook notification was delivered, or given up.
    pub fn webhook(&self, outcome: &str) {
        if let Ok(mut m) = self.inner.lock() {
            *m.webhooks.entry(outcome.to_string()).or_default() += 1;
        }
    }

    /// A webhook delivery failed (it may be retried).
    pub fn webhook_attempt_failed(&self) {
        if let Ok(mut m) = self.inner.lock() {
            m.webhook_failed_attempts += 1;
        }
    }

    /// A job ended (succeeded or failed for good), with its rows.
    pub fn job_ended(&self, outcome: &str, seconds: f64, rows: &[(&str, u64)]) {
        if let Ok(mut m) = self.inner.lock() {
            *m.jobs.entry(outcome.to_string()).or_default() += 1;
            m.duration_sum += seconds;
            m.duration_count += 1;
            for (k, v) in rows {
                *m.rows.entry((*k).to_string()).or_default() += v;
            }
        }
    }

    /// The text for `/metrics`; `ledger` is the job ledger's count by state
    /// (every worker's jobs), when the database answered.
    pub fn render(&self, ledger: Option<&[(String, i64)]>) -> String {
        let mut out = String::new();
        let Ok(m) = self.inner.lock() else { return out };
        let _ = writeln!(out, "# HELP migrate_worker_messages_total SQS messages received by this process.");
        let _ = writeln!(out, "# TYPE migrate_worker_messages_total counter");
        let _ = writeln!(out, "migrate_worker_messages_total {}", m.messages);
        let _ = writeln!(out, "# HELP migrate_worker_jobs_total Jobs this process ended, by outcome.");
        let _ = writeln!(out, "# TYPE migrate_worker_jobs_total counter");
        for (k, v) in &m.jobs {
            let _ = writeln!(out, "migrate_worker_jobs_total{{outcome=\"{k}\"}} {v}");
        }
        let _ =
            writeln!(out, "# HELP migrate_worker_failed_attempts_total Attempts that failed (retried or given up).");
        let _ = writeln!(out, "# TYPE migrate_worker_failed_attempts_total counter");
        let _ = writeln!(out, "migrate_worker_failed_attempts_total {}", m.failed_attempts);
        let _ = writeln!(out, "# HELP migrate_worker_splits_total Jobs this process split into partitions.");
        let _ = writeln!(out, "# TYPE migrate_worker_splits_total counter");
        let _ = writeln!(out, "migrate_worker_splits_total {}", m.splits);
        let _ = writeln!(
            out,
            "# HELP migrate_worker_partitions_staged_total Partitions of split jobs this process staged."
        );
        let _ = writeln!(out, "# TYPE migrate_worker_partitions_staged_total counter");
        let _ = writeln!(out, "migrate_worker_partitions_staged_total {}", m.partitions_staged);
        let _ =
            writeln!(out, "# HELP migrate_worker_rows_total Source rows of the jobs this process ended, by outcome.");
        let _ = writeln!(out, "# TYPE migrate_worker_rows_total counter");
        for (k, v) in &m.rows {
            let _ = writeln!(out, "migrate_worker_rows_total{{outcome=\"{k}\"}} {v}");
        }
        let _ = writeln!(out, "# HELP migrate_worker_webhooks_total Webhook notifications, delivered or given up.");
        let _ = writeln!(out, "# TYPE migrate_worker_webhooks_total counter");
        for (k, v) in &m.webhooks {
            let _ = writeln!(out, "migrate_worker_webhooks_total{{outcome=\"{k}\"}} {v}");
        }
        let _ = writeln!(
            out,
            "# HELP migrate_worker_webhook_failed_deliveries_total Webhook deliveries that failed (retried or given up)."
        );
        let _ = writeln!(out, "# TYPE migrate_worker_webhook_failed_deliveries_total counter");
        let _ = writeln!(out, "migrate_worker_webhook_failed_deliveries_total {}", m.webhook_failed_attempts);
        let _ = writeln!(out, "# HELP migrate_worker_job_duration_seconds Time from claim to end of a job.");
        let _ = writeln!(out, "# TYPE migrate_worker_job_duration_seconds summary");
        let _ = writeln!(out, "migrate_worker_job_duration_seconds_sum {}", m.duration_sum);
        let _ = writeln!(out, "migrate_worker_job_duration_seconds_count {}", m.duration_count);
        if let Some(states) = ledger {
            let _ = writeln!(out, "# HELP migrate_jobs Jobs in the ledger (all workers), by state.");
            let _ = writeln!(out, "# TYPE migrate_jobs gauge");
            for (k, v) in states {
                let _ = writeln!(out, "migrate_jobs{{state=\"{k}\"}} {v}");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_as_prometheus_text() {
        let m = Metrics::default();
        m.message();
        m.job_ended("succeeded", 1.5, &[("loaded", 10), ("rejected", 2)]);
        m.job_ended("failed", 0.5, &[]);
        m.attempt_failed();
        m.job_split();
        m.partition_staged();
        m.partition_staged();
        m.webhook("delivered");
        m.webhook_attempt_failed();
        let text = m.render(Some(&[("succeeded".to_string(), 4)]));
        for line in [
            "migrate_worker_messages_total 1",
            "migrate_worker_jobs_total{outcome=\"failed\"} 1",
            "migrate_worker_jobs_total{outcome=\"succeeded\"} 1",
            "migrate_worker_rows_total{outcome=\"loaded\"} 10",
            "migrate_worker_rows_total{outcome=\"rejected\"} 2",
            "migrate_worker_job_duration_seconds_sum 2",
            "migrate_worker_job_duration_seconds_count 2",
            "migrate_jobs{state=\"succeeded\"} 4",
            "migrate_worker_failed_attempts_total 1",
            "migrate_worker_splits_total 1",
            "migrate_worker_partitions_staged_total 2",
            "migrate_worker_webhooks_total{outcome=\"delivered\"} 1",
            "migrate_worker_webhook_failed_deliveries_total 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing from\n{text}");
        }
    }
}
