//! A throwaway PostgreSQL (schema applied, a worker login role) and a moto
//! server (bucket, queues, S3 → SQS notifications), and the real
//! `migrate-worker` binary run against them.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Event, FilterRule, FilterRuleName, NotificationConfiguration, QueueConfiguration};
use migrate_testkit::{Moto, TestCluster};
use sqlx::{Connection, PgConnection};

pub const ORG_A: &str = "7a1c0b52-3c1e-4d8e-9f5a-2b6d8e4f1a90";
pub const ORG_B: &str = "0b9e4d3c-2a1f-4e5d-8c7b-6a5f4e3d2c1b";
pub const DB: &str = "platform";
pub const BUCKET: &str = "uploads";
/// The worker's login role: platform_tenant for loads, migrate_worker for
/// its ledger; no superuser, no BYPASSRLS.
pub const WORKER_ROLE: &str = "worker";
/// Set in the worker's environment; must never come out of it.
pub const SECRET: &str = "sekrit-db-password-42";

pub struct Stack {
    pub cluster: TestCluster,
    pub moto: Moto,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub queue: String,
    pub dlq: String,
    pub notify: String,
    pub work: tempfile::TempDir,
}

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

async fn queue(sqs: &aws_sdk_sqs::Client, name: &str) -> String {
    sqs.create_queue().queue_name(name).send().await.unwrap().queue_url().unwrap().to_string()
}

impl Stack {
    pub async fn new() -> Self {
        Self::on(TestCluster::start()).await
    }

    /// The same, on a cluster the test started (with TLS, say).
    pub async fn on(cluster: TestCluster) -> Self {
        cluster.create_database(DB).await;
        let mut conn = PgConnection::connect(&cluster.admin_url(DB)).await.unwrap();
        let checksums: Vec<String> = migrate_mappings::MIGRATIONS.iter().map(|m| m.checksum()).collect();
        let migrations: Vec<migrate_postgres::SqlMigration> = migrate_mappings::MIGRATIONS
            .iter()
            .zip(&checksums)
            .map(|(m, c)| migrate_postgres::SqlMigration { version: m.version, name: m.name, sql: m.sql, checksum: c })
            .collect();
        migrate_postgres::apply_migrations(&mut conn, &migrations).await.unwrap();
        cluster
            .admin_sql(
                DB,
                &format!(
                    "CREATE ROLE {WORKER_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS;
                     GRANT platform_tenant, migrate_worker TO {WORKER_ROLE};"
                ),
            )
            .await;

        let moto = Moto::start();
        let creds = aws_sdk_s3::config::Credentials::new("test", "test", None, None, "tests");
        let region = aws_sdk_s3::config::Region::new("us-east-1");
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::Config::builder()
                .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
                .credentials_provider(creds.clone())
                .region(region.clone())
                .endpoint_url(moto.endpoint())
                .http_client(migrate_worker::service::https_client())
                .force_path_style(true)
                .build(),
        );
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::Config::builder()
                .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
                .credentials_provider(creds)
                .region(region)
                .http_client(migrate_worker::service::https_client())
                .endpoint_url(moto.endpoint())
                .build(),
        );
        s3.create_bucket().bucket(BUCKET).send().await.unwrap();
        let queue_url = queue(&sqs, "uploads").await;
        let dlq = queue(&sqs, "uploads-dead").await;
        let notify = queue(&sqs, "job-results").await;
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn).cloned())
            .unwrap();
        let filter = aws_sdk_s3::types::NotificationConfigurationFilter::builder()
            .key(
                aws_sdk_s3::types::S3KeyFilter::builder()
                    .filter_rules(FilterRule::builder().name(FilterRuleName::Prefix).value("tenants/").build())
                    .build(),
            )
            .build();
        s3.put_bucket_notification_configuration()
            .bucket(BUCKET)
            .notification_configuration(
                NotificationConfiguration::builder()
                    .queue_configurations(
                        QueueConfiguration::builder()
                            .queue_arn(arn)
                            .events(Event::from("s3:ObjectCreated:*"))
                            .filter(filter)
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap();
        Self { cluster, moto, s3, sqs, queue: queue_url, dlq, notify, work: tempfile::tempdir().unwrap() }
    }

    /// A `migrate-worker` process; `extra` overrides the defaults.
    pub fn worker(&self, name: &str, extra: &[(&str, &str)]) -> Worker {
        self.worker_without(name, extra, &[])
    }

    /// The same, with the variables in `unset` left out of its environment.
    pub fn worker_without(&self, name: &str, extra: &[(&str, &str)], unset: &[&str]) -> Worker {
        let port = migrate_testkit::free_port();
        let log_path = self.work.path().join(format!("{name}.log"));
        let log = std::fs::File::create(&log_path).unwrap();
        let mut c = Command::new(env!("CARGO_BIN_EXE_migrate-worker"));
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", self.cluster.url(WORKER_ROLE, DB))
            .env("DB_PASSWORD", SECRET)
            .env("QUEUE_URL", &self.queue)
            .env("DEAD_LETTER_QUEUE_URL", &self.dlq)
            .env("NOTIFY_QUEUE_URL", &self.notify)
            .env("AWS_ENDPOINT_URL", self.moto.endpoint())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("WORKER_ID", name)
            .env("WORK_DIR", self.work.path().join(format!("{name}-jobs")))
            .env("POLL_WAIT_SECS", "1")
            .env("RETRY_DELAY_SECS", "1")
            .env("JOB_LEASE_SECS", "4")
            .env("MAX_ATTEMPTS", "2");
        for (k, v) in extra {
            c.env(k, v);
        }
        for k in unset {
            c.env_remove(k);
        }
        let child = c.stdout(Stdio::null()).stderr(log).spawn().unwrap();
        let worker = Worker { child, port, log: log_path };
        worker.wait_until_live();
        worker
    }

    pub async fn put(&self, key: &str, body: impl Into<Vec<u8>>) {
        self.s3.put_object().bucket(BUCKET).key(key).body(ByteStream::from(body.into())).send().await.unwrap();
    }

    pub async fn get(&self, key: &str) -> Option<Vec<u8>> {
        let o = self.s3.get_object().bucket(BUCKET).key(key).send().await.ok()?;
        Some(o.body.collect().await.unwrap().into_bytes().to_vec())
    }

    pub async fn keys(&self, prefix: &str) -> Vec<String> {
        let out = self.s3.list_objects_v2().bucket(BUCKET).prefix(prefix).send().await.unwrap();
        let mut keys: Vec<String> = out.contents().iter().filter_map(|o| o.key().map(str::to_string)).collect();
        keys.sort();
        keys
    }

    /// Uploads the demo CSV, then a mapping (the demo's, for `org`, unless
    /// `mapping` is given) under `tenants/{org}/{job}/`.
    pub async fn upload_job(&self, org: &str, job: &str, mapping: Option<&str>) {
        let csv = std::fs::read(workspace().join("fixtures/demo/customers.csv")).unwrap();
        self.put(&format!("tenants/{org}/{job}/customers.csv"), csv).await;
        let text = mapping.map(str::to_string).unwrap_or_else(|| demo_mapping(org));
        self.put(&format!("tenants/{org}/{job}/mapping.toml"), text).await;
    }

    /// The next notifications, until `count` arrived (or a minute passed).
    pub async fn notifications(&self, count: usize, within: Duration) -> Vec<serde_json::Value> {
        receive(&self.sqs, &self.notify, count, within).await
    }

    pub async fn dead_letters(&self, within: Duration) -> Vec<String> {
        receive(&self.sqs, &self.dlq, 1, within).await.into_iter().map(|v| v.to_string()).collect()
    }

    /// Messages in the upload queue, visible or in flight.
    pub async fn queue_depth(&self) -> u64 {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.queue)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .unwrap();
        let attrs = out.attributes().cloned().unwrap_or_default();
        [A::ApproximateNumberOfMessages, A::ApproximateNumberOfMessagesNotVisible]
            .iter()
            .map(|a| attrs.get(a).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0))
            .sum()
    }

    /// Waits until the upload queue is empty (every message handled).
    pub async fn drained(&self, within: Duration) {
        let deadline = Instant::now() + within;
        while self.queue_depth().await > 0 {
            assert!(Instant::now() < deadline, "the upload queue did not drain");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    pub async fn admin(&self) -> PgConnection {
        PgConnection::connect(&self.cluster.admin_url(DB)).await.unwrap()
    }

    pub async fn count(&self, sql: &str) -> i64 {
        let mut conn = self.admin().await;
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_string())).fetch_one(&mut conn).await.unwrap()
    }

    pub async fn contacts(&self, org: &str) -> i64 {
        self.count(&format!("SELECT count(*) FROM contacts WHERE org_id = '{org}'")).await
    }

    /// Waits until the ledger has a job matching `condition` (SQL).
    pub async fn wait_for_job(&self, condition: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while self.count(&format!("SELECT count(*) FROM migrate.jobs WHERE {condition}")).await == 0 {
            assert!(Instant::now() < deadline, "no job with {condition}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn receive(sqs: &aws_sdk_sqs::Client, url: &str, count: usize, within: Duration) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    while out.len() < count && Instant::now() < deadline {
        let got =
            sqs.receive_message().queue_url(url).max_number_of_messages(10).wait_time_seconds(1).send().await.unwrap();
        for m in got.messages() {
            let body = m.body().unwrap_or_default();
            out.push(serde_json::from_str(body).unwrap_or_else(|_| serde_json::Value::String(body.to_string())));
            sqs.delete_message().queue_url(url).receipt_handle(m.receipt_handle().unwrap()).send().await.unwrap();
        }
    }
    out
}

/// The demo mapping with its org written in (an uploaded mapping cannot
/// read `${ORG_ID}`).
pub fn demo_mapping(org: &str) -> String {
    std::fs::read_to_string(workspace().join("fixtures/demo/mapping.toml")).unwrap().replace("${ORG_ID}", org)
}

/// What `migrate-worker` says on stderr when started with `extra` (and a
/// queue and database that need not answer): it must exit 2, a bad setting.
pub fn bad_setting(extra: &[(&str, &str)]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_migrate-worker"))
        .env_clear()
        .env("QUEUE_URL", "http://127.0.0.1:1/q")
        .env("DATABASE_URL", "postgres://u@127.0.0.1:1/db")
        .envs(extra.iter().copied())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{said}");
    said
}

pub struct Worker {
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Worker {
    pub fn http(&self, path: &str) -> (u16, String) {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
        (status, body)
    }

    fn wait_until_live(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            assert!(Instant::now() < deadline, "worker did not start:\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no cleanup of any kind.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then the exit status (waiting at most `within`).
    pub fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "worker did not exit after SIGTERM:\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CSV of `rows` clean contacts and a mapping for it, big enough that a
/// run takes a few seconds.
pub fn bulk_job(org: &str, rows: usize) -> (String, String) {
    let mut csv = String::from("id,first,last,email\n");
    for i in 0..rows {
        csv.push_str(&format!("B{i:07},First{i},Last{i},person{i}@example.com\n"));
    }
    let mapping = format!(
        r#"[migration]
name = "bulk"
org_id = "{org}"
source_system = "bulk"

[sources.people]
kind = "csv"
path = "people.csv"

[contacts]
from = "people"
key = ["id"]

[contacts.columns]
first_name = "first"
last_name = "last"
email = {{ from = "email", transform = ["trim", "lowercase"] }}
"#
    );
    (csv, mapping)
}
