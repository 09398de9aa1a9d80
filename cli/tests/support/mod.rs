//! Shared by the integration tests: a throwaway PostgreSQL cluster with the
//! platform schema applied and a plain loader role, and the real `migrate`
//! binary run against it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use migrate_testkit::TestCluster;
use sqlx::{Connection, PgConnection};

pub const ORG_A: &str = "7a1c0b52-3c1e-4d8e-9f5a-2b6d8e4f1a90";
pub const ORG_B: &str = "0b9e4d3c-2a1f-4e5d-8c7b-6a5f4e3d2c1b";
pub const DB: &str = "platform";
/// A LOGIN role that is a member of platform_tenant: no superuser, no
/// BYPASSRLS, owns nothing.
pub const LOADER: &str = "loader";

pub struct Target {
    pub cluster: TestCluster,
    pub work: tempfile::TempDir,
}

pub fn migrate_bin() -> &'static str {
    env!("CARGO_BIN_EXE_migrate")
}

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

impl Target {
    /// A cluster with the schema applied (by the superuser, as an admin
    /// would) and the loader role created.
    pub async fn new() -> Self {
        Self::on(TestCluster::start()).await
    }

    /// The same, on a cluster the test started (with TLS, say).
    pub async fn on(cluster: TestCluster) -> Self {
        cluster.create_database(DB).await;
        let target = Self { cluster, work: tempfile::tempdir().unwrap() };
        let out = target.migrate_as("postgres").args(["schema", "apply"]).output().unwrap();
        assert_success(&out);
        target
            .cluster
            .admin_sql(
                DB,
                &format!("CREATE ROLE {LOADER} LOGIN NOSUPERUSER NOBYPASSRLS; GRANT platform_tenant TO {LOADER};"),
            )
            .await;
        target
    }

    /// `migrate` connecting as `user`, with a clean environment.
    pub fn migrate_as(&self, user: &str) -> Command {
        let mut c = Command::new(migrate_bin());
        self.connect_as(&mut c, user);
        c
    }

    /// Gives a command that runs `migrate` (perhaps through a wrapper) the
    /// environment of [`Target::migrate_as`].
    pub fn connect_as(&self, c: &mut Command, user: &str) {
        for v in ["DATABASE_URL", "DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD", "DB_SSLMODE", "ORG_ID"] {
            c.env_remove(v);
            c.env_remove(format!("{v}_FILE"));
        }
        for v in ["DB_SSLROOTCERT", "PGSSLMODE", "PGSSLROOTCERT", "PGPASSWORD", "PGHOST", "PGPORT", "PGUSER"] {
            c.env_remove(v);
        }
        c.env("DATABASE_URL", self.cluster.url(user, DB)).current_dir(self.work.path());
    }

    /// `migrate` as `user` on `host`, through the `DB_*` variables
    /// instead of `DATABASE_URL`.
    pub fn migrate_with_db_vars(&self, user: &str, host: &str) -> Command {
        let mut c = self.migrate_as(user);
        c.env_remove("DATABASE_URL")
            .env("DB_HOST", host)
            .env("DB_PORT", self.cluster.port.to_string())
            .env("DB_NAME", DB)
            .env("DB_USER", user);
        c
    }

    /// `migrate run MAPPING --out DIR` as the loader for `org`.
    pub fn run(&self, mapping: &Path, org: &str, out: &str) -> Output {
        self.migrate_as(LOADER).env("ORG_ID", org).args(["run"]).arg(mapping).args(["--out", out]).output().unwrap()
    }

    /// Starts `migrate run` as the loader without waiting for it.
    pub fn spawn_run(&self, mapping: &Path, org: &str, out: &str) -> std::process::Child {
        self.migrate_as(LOADER)
            .env("ORG_ID", org)
            .arg("run")
            .arg(mapping)
            .args(["--out", out])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Takes, on `conn`, the advisory lock a run waits for before it
    /// publishes for `org`: the run stages everything, then waits.
    pub async fn hold_publish_lock(conn: &mut PgConnection, org: &str) {
        sqlx::query("SELECT pg_advisory_lock(hashtextextended($1, 0))")
            .bind(format!("migrate:publish:{org}"))
            .execute(conn)
            .await
            .unwrap();
    }

    pub fn out_dir(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    /// Copies the demo (mapping and CSV) into the work directory, so a test
    /// can change the CSV; returns the mapping's path.
    pub fn demo(&self, name: &str) -> PathBuf {
        let dir = self.work.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["mapping.toml", "customers.csv"] {
            std::fs::copy(workspace().join("fixtures/demo").join(f), dir.join(f)).unwrap();
        }
        dir.join("mapping.toml")
    }

    pub async fn admin(&self) -> PgConnection {
        PgConnection::connect(&self.cluster.admin_url(DB)).await.unwrap()
    }

    pub async fn loader(&self) -> PgConnection {
        PgConnection::connect(&self.cluster.url(LOADER, DB)).await.unwrap()
    }

    /// A count as the tenant sees it: the loader, `SET LOCAL ROLE
    /// platform_tenant`, the org set (or not, when `org` is None).
    pub async fn tenant_count(&self, org: Option<&str>, table: &str) -> i64 {
        let mut conn = self.loader().await;
        let mut tx = conn.begin().await.unwrap();
        sqlx::query("SET LOCAL ROLE platform_tenant").execute(&mut *tx).await.unwrap();
        if let Some(org) = org {
            sqlx::query("SELECT set_config('app.current_org_id', $1, true)").bind(org).execute(&mut *tx).await.unwrap();
        }
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
            .fetch_one(&mut *tx)
            .await
            .unwrap()
    }

    /// A count that sees every org (the superuser bypasses RLS).
    pub async fn admin_count(&self, sql: &str) -> i64 {
        let mut conn = self.admin().await;
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string())).fetch_one(&mut conn).await.unwrap()
    }
}

pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn report(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("report.json")).unwrap();
    let report = serde_json::from_str(&text).unwrap();
    migrate_testkit::check_report(&report);
    report
}

/// The entity block of a report, by name.
pub fn entity<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["entities"].as_array().unwrap().iter().find(|e| e["entity"] == name).unwrap()
}

/// The counts of an entity block as (read, filtered, duplicates, rejected,
/// loaded, inserted, updated, unchanged).
pub fn counts(e: &serde_json::Value) -> [u64; 8] {
    ["read", "filtered", "duplicates", "rejected", "loaded", "inserted", "updated", "unchanged"]
        .map(|k| e[k].as_u64().unwrap_or_else(|| panic!("{k} missing in {e}")))
}

/// Polls `sql` (a count) until it is positive; panics after a minute.
pub async fn wait_until(conn: &mut PgConnection, sql: &str, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string())).fetch_one(&mut *conn).await.unwrap();
        if n > 0 {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A run's backend waiting for the publish lock.
pub const WAITING_TO_PUBLISH: &str = "SELECT count(*) FROM pg_stat_activity
    WHERE application_name = 'migrate' AND wait_event_type = 'Lock' AND wait_event = 'advisory'";

/// Reads a CSV file as header + rows.
pub fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r.records().map(|rec| rec.unwrap().iter().map(str::to_string).collect()).collect();
    (header, rows)
}

/// Writes a CSV file: the header, then the rows (the twin of `read_csv`).
pub fn write_csv(path: &Path, header: &[String], rows: &[Vec<String>]) {
    let mut w = csv::Writer::from_path(path).unwrap();
    w.write_record(header).unwrap();
    for row in rows {
        w.write_record(row).unwrap();
    }
    w.flush().unwrap();
}

/// SIGKILLs a run and waits until PostgreSQL has dropped its connections
/// (and so its locks and open transaction).
pub async fn kill_and_wait(mut child: std::process::Child, watcher: &mut PgConnection) {
    child.kill().unwrap();
    child.wait().unwrap();
    wait_for_no_migrate_backends(watcher).await;
}

pub async fn wait_for_no_migrate_backends(conn: &mut PgConnection) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'migrate'")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        if n == 0 {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "the killed run's connections did not go away");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
