//! The worker against moto (S3 + SQS) and a throwaway PostgreSQL, run as
//! the real binary: uploads become runs, once; failures retry and then
//! dead-letter; killed and stopped workers hand their jobs on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use support::*;

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn an_upload_becomes_one_run_with_its_results_in_s3_even_when_the_event_repeats() {
    let stack = Stack::new().await;
    let worker = stack.worker("w1", &[]);
    assert_eq!(worker.http("/livez"), (200, "ok\n".to_string()));
    assert_eq!(worker.http("/readyz"), (200, "ready\n".to_string()));

    stack.upload_job(ORG_A, "crm-2024", None).await;
    let notes = stack.notifications(1, MINUTE).await;
    assert_eq!(notes.len(), 1, "{}", worker.log_text());
    let note = &notes[0];
    assert_eq!(note["state"], "succeeded", "{note}");
    assert_eq!(note["key"], format!("tenants/{ORG_A}/crm-2024/mapping.toml"));
    let contacts = &note["summary"]["entities"][0];
    assert_eq!(
        (&contacts["read"], &contacts["loaded"], &contacts["rejected"], &contacts["duplicates"], &contacts["balanced"]),
        (&302.into(), &274.into(), &18.into(), &10.into(), &true.into())
    );
    assert_eq!(stack.contacts(ORG_A).await, 274);

    // The results sit under the job's prefix and agree with the notification.
    let run_id = note["run_id"].as_str().unwrap().to_string();
    let results = format!("tenants/{ORG_A}/crm-2024/_results/{run_id}/");
    assert_eq!(
        stack.keys(&results).await,
        ["duplicates/contacts.csv", "rejects/contacts.csv", "report.html", "report.json"]
            .map(|k| format!("{results}{k}"))
    );
    let report: serde_json::Value =
        serde_json::from_slice(&stack.get(&format!("{results}report.json")).await.unwrap()).unwrap();
    migrate_testkit::check_report(&report);
    assert_eq!(report["status"], "succeeded");
    assert_eq!(report["entities"][0]["target_count"], 274);
    assert_eq!(report["mapping"]["path"], format!("s3://{BUCKET}/tenants/{ORG_A}/crm-2024/mapping.toml"));
    assert_eq!(report["sources"][0]["location"], format!("s3://{BUCKET}/tenants/{ORG_A}/crm-2024/customers.csv"));
    let rejects = String::from_utf8(stack.get(&format!("{results}rejects/contacts.csv")).await.unwrap()).unwrap();
    assert_eq!(rejects.lines().count(), 19, "a header and 18 rejected rows");
    // Rejects are located by the S3 key, not the worker's folder.
    let file = format!("s3://{BUCKET}/tenants/{ORG_A}/crm-2024/customers.csv:");
    let located: Vec<String> =
        csv::Reader::from_reader(rejects.as_bytes()).records().map(|r| r.unwrap()[0].to_string()).collect();
    assert!(located.iter().all(|l| l.starts_with(&file)), "{located:?}");
    let examples = report["entities"][0]["rejects_by_reason"].as_array().unwrap();
    assert!(
        examples
            .iter()
            .flat_map(|r| r["examples"].as_array().unwrap())
            .all(|e| e["location"].as_str().unwrap().starts_with(&file))
    );
    assert!(!rejects.contains("migrate-job-") && !report.to_string().contains("migrate-job-"));

    // The same event again (SQS redelivers at least once): no second run.
    // A redelivery is the same message: the same ETag and event time.
    let version: String =
        sqlx::query_scalar("SELECT version FROM migrate.jobs").fetch_one(&mut stack.admin().await).await.unwrap();
    let (_, event_time) = version.split_once('@').unwrap();
    let body = serde_json::json!({"Records": [{
        "eventName": "ObjectCreated:Put",
        "eventTime": event_time,
        "s3": {"bucket": {"name": BUCKET}, "object": {
            "key": format!("tenants/{ORG_A}/crm-2024/mapping.toml"),
            "eTag": stack.s3.head_object().bucket(BUCKET).key(format!("tenants/{ORG_A}/crm-2024/mapping.toml"))
                .send().await.unwrap().e_tag().unwrap().trim_matches('"'),
            "size": 1
        }}
    }]});
    stack.sqs.send_message().queue_url(&stack.queue).message_body(body.to_string()).send().await.unwrap();
    stack.drained(MINUTE).await;
    assert_eq!(stack.notifications(1, Duration::from_secs(3)).await.len(), 0);
    assert_eq!(stack.count("SELECT count(*) FROM migrate.jobs").await, 1);
    assert_eq!(stack.count("SELECT count(*) FROM migrate.runs").await, 1);
    assert_eq!(stack.count("SELECT attempts::bigint FROM migrate.jobs").await, 1);

    let (status, metrics) = worker.http("/metrics");
    assert_eq!(status, 200);
    for line in [
        "migrate_worker_jobs_total{outcome=\"succeeded\"} 1",
        "migrate_worker_rows_total{outcome=\"loaded\"} 274",
        "migrate_jobs{state=\"succeeded\"} 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} not in\n{metrics}");
    }
    // Every log line is JSON; job lines carry the job id; no row values.
    let log = worker.log_text();
    for line in log.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if v["fields"]["message"] == "job claimed" {
            assert!(v["span"]["job_id"].is_string(), "{line}");
        }
    }
    assert!(!log.contains("Berners-Lee"), "row values in the log");
}

#[tokio::test]
async fn a_job_that_keeps_failing_is_retried_then_dead_lettered_while_other_jobs_run() {
    let stack = Stack::new().await;
    let _worker = stack.worker("w1", &[]);
    // A stored mapping's job starts at any upload, so a file it reads may
    // still be on its way: that failure is retried, then dead-lettered.
    let stored = demo_mapping(ORG_B).replace("path = \"customers.csv\"", "path = \"missing.csv\"");
    stack.put(&format!("mappings/{ORG_B}.toml"), stored).await;
    stack.put(&format!("tenants/{ORG_B}/waiting/other.csv"), "id\n1\n").await;
    stack.upload_job(ORG_A, "good", None).await;
    let mut notes = stack.notifications(2, MINUTE).await;
    notes.sort_by_key(|n| n["key"].as_str().unwrap_or_default().to_string());
    assert_eq!(notes.len(), 2);
    let (good, waiting) = if notes[0]["key"].as_str().unwrap().contains("/good/") {
        (&notes[0], &notes[1])
    } else {
        (&notes[1], &notes[0])
    };
    assert_eq!(waiting["key"], format!("tenants/{ORG_B}/waiting/other.csv"));
    assert_eq!(waiting["state"], "failed");
    assert_eq!(waiting["attempts"], 2);
    let error = waiting["summary"]["error"].as_str().unwrap();
    assert!(error.contains("missing.csv") && error.ends_with("(after 2 attempts)"), "{error}");
    assert_eq!(good["state"], "succeeded");
    let dead = stack.dead_letters(Duration::from_secs(10)).await;
    assert_eq!(dead.len(), 1);
    assert!(dead[0].contains("waiting"), "{}", dead[0]);
    assert_eq!(stack.count("SELECT count(*) FROM migrate.jobs WHERE state = 'failed' AND attempts = 2").await, 1);
    assert_eq!(stack.contacts(ORG_A).await, 274);
}

#[tokio::test]
async fn a_permanent_error_fails_its_job_on_the_first_attempt_without_a_dead_letter() {
    let stack = Stack::new().await;
    // Retries every 30 s, three attempts: a retried job would take a minute.
    let _worker = stack.worker("w1", &[("MAX_ATTEMPTS", "3"), ("RETRY_DELAY_SECS", "30")]);
    let demo = demo_mapping(ORG_A);
    let cases = [
        ("toml", "[migration\nname = ".to_string(), "mapping.toml"),
        ("other-org", demo_mapping(ORG_B), "refused, nothing loaded"),
        ("column", demo.replace("from = \"FirstName\"", "from = \"Vorname\""), "unknown source column `Vorname`"),
        (
            "budget",
            demo.replace("source_system = ", "max_rejected = 0\nsource_system = "),
            "rejected, more than max_rejected = 0",
        ),
        (
            "raised-limit",
            demo.replace("path = \"customers.csv\"", "path = \"customers.csv\"\nmax_field_bytes = 1073741824"),
            "source customers sets max_field_bytes = 1073741824, above the worker's ceiling MAX_FIELD_BYTES = 1048576",
        ),
    ];
    for (job, mapping, _) in &cases {
        stack.upload_job(ORG_A, job, Some(mapping)).await;
    }
    let started = std::time::Instant::now();
    let notes = stack.notifications(cases.len(), MINUTE).await;
    assert_eq!(notes.len(), cases.len());
    assert!(started.elapsed() < Duration::from_secs(30), "no job waited for a retry: {:?}", started.elapsed());
    for (job, _, expected) in &cases {
        let note = notes.iter().find(|n| n["key"] == format!("tenants/{ORG_A}/{job}/mapping.toml")).unwrap();
        assert_eq!((&note["state"], &note["attempts"]), (&"failed".into(), &1.into()), "{note}");
        let error = note["summary"]["error"].as_str().unwrap();
        assert!(error.contains(expected), "{job}: {error}");
        assert!(error.ends_with("(not retried: the upload itself must change)"), "{job}: {error}");
    }
    assert_eq!(stack.count("SELECT count(*) FROM migrate.jobs WHERE state = 'failed' AND attempts = 1").await, 5);
    // The run that exceeded its budget wrote its results once, and the
    // notification points at them.
    let budget = notes.iter().find(|n| n["key"] == format!("tenants/{ORG_A}/budget/mapping.toml")).unwrap();
    let run_id = budget["run_id"].as_str().expect("the failed run's id");
    let results = format!("tenants/{ORG_A}/budget/_results/{run_id}/");
    assert_eq!(budget["results"], format!("s3://{BUCKET}/{results}"));
    let report: serde_json::Value =
        serde_json::from_slice(&stack.get(&format!("{results}report.json")).await.unwrap()).unwrap();
    assert_eq!(report["status"], "failed");
    assert_eq!(report["entities"][0]["rejected"], 18);
    let folders: std::collections::BTreeSet<String> = stack
        .keys(&format!("tenants/{ORG_A}/budget/_results/"))
        .await
        .iter()
        .filter_map(|k| k.split('/').nth(4).map(str::to_string))
        .collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    assert!(stack.dead_letters(Duration::from_secs(3)).await.is_empty(), "a customer's mistake is no operator's");
    assert_eq!(stack.contacts(ORG_A).await, 0);
}

#[tokio::test]
async fn the_same_mapping_uploaded_again_with_corrected_data_runs_again() {
    let stack = Stack::new().await;
    let _worker = stack.worker("w1", &[]);
    stack.upload_job(ORG_A, "crm", None).await;
    let first = stack.notifications(1, MINUTE).await;
    assert_eq!(first[0]["state"], "succeeded", "{}", first[0]);
    assert_eq!(first[0]["summary"]["entities"][0]["inserted"], 274);

    // The customer fixes one name and sends the same mapping.toml again.
    let csv = std::fs::read_to_string(workspace().join("fixtures/demo/customers.csv")).unwrap();
    let line = csv.lines().nth(1).unwrap().to_string();
    let first_name = line.split(',').nth(1).unwrap().to_string();
    assert!(!first_name.is_empty(), "{line}");
    let fixed = csv.replacen(&line, &line.replacen(&first_name, "Corrected", 1), 1);
    stack.put(&format!("tenants/{ORG_A}/crm/customers.csv"), fixed).await;
    stack.put(&format!("tenants/{ORG_A}/crm/mapping.toml"), demo_mapping(ORG_A)).await;
    let second = stack.notifications(1, MINUTE).await;
    assert_eq!(second.len(), 1, "the re-upload is a job of its own");
    assert_eq!(second[0]["state"], "succeeded", "{}", second[0]);
    assert_ne!(second[0]["job_id"], first[0]["job_id"]);
    let e = &second[0]["summary"]["entities"][0];
    assert_eq!((&e["inserted"], &e["updated"]), (&0.into(), &1.into()), "{e}");
    assert_eq!(stack.count("SELECT count(*) FROM migrate.jobs WHERE state = 'succeeded'").await, 2);
}

#[tokio::test]
async fn a_worker_started_before_its_database_waits_for_it_and_says_why_it_is_not_ready() {
    let stack = Stack::new().await;
    stack.cluster.stop();
    let worker = stack.worker("w1", &[]);
    assert_eq!(worker.http("/livez"), (200, "ok\n".to_string()), "alive, though not ready");
    let (status, body) = worker.http("/readyz");
    assert_eq!(status, 503);
    assert!(body.starts_with("not ready: the database ") && body.contains(" does not answer: "), "{body}");
    assert_eq!(body.lines().count(), 1, "one plain sentence: {body}");
    assert!(!body.contains(SECRET));
    stack.upload_job(ORG_A, "early", None).await;

    stack.cluster.start_again();
    let deadline = std::time::Instant::now() + MINUTE;
    while worker.http("/readyz").0 != 200 {
        assert!(std::time::Instant::now() < deadline, "never ready: {}", worker.log_text());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let notes = stack.notifications(1, MINUTE).await;
    assert_eq!(notes.len(), 1, "{}", worker.log_text());
    assert_eq!(notes[0]["state"], "succeeded", "the upload waited for the database: {}", notes[0]);
    assert!(worker.log_text().contains("waiting for the database"), "{}", worker.log_text());
}

#[tokio::test]
async fn a_bad_queue_url_is_one_plain_sentence_on_readyz() {
    let stack = Stack::new().await;
    let worker = stack.worker("w1", &[("QUEUE_URL", &format!("{}/123456789012/no-such-queue", stack.moto.endpoint()))]);
    let (status, body) = worker.http("/readyz");
    assert_eq!(status, 503);
    assert!(
        body.starts_with("not ready: the queue QUEUE_URL = ") && body.contains("no-such-queue does not answer: "),
        "{body}"
    );
    assert_eq!(body.lines().count(), 1, "{body}");
    assert!(!body.contains("request_id") && !body.contains("headers"), "no SDK dump: {body}");
}

#[tokio::test]
async fn a_message_received_at_sigterm_is_handed_back_at_once_not_after_the_lease() {
    let stack = Stack::new().await;
    let csv = std::fs::read(workspace().join("fixtures/demo/customers.csv")).unwrap();
    let settings = [("POLL_WAIT_SECS", "20"), ("JOB_LEASE_SECS", "60")];
    let mut first = stack.worker("w1", &settings);
    stack.put(&format!("tenants/{ORG_A}/late/customers.csv"), csv).await;
    stack.drained(MINUTE).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    // SIGTERM while w1 long-polls; the job's mapping arrives in that poll.
    let status = std::process::Command::new("kill").args(["-TERM", &first.child.id().to_string()]).status().unwrap();
    assert!(status.success());
    stack.put(&format!("tenants/{ORG_A}/late/mapping.toml"), demo_mapping(ORG_A)).await;
    assert!(first.terminate(Duration::from_secs(40)).success());
    assert!(first.log_text().contains("a message received but not started is visible again"), "{}", first.log_text());

    let started = std::time::Instant::now();
    let _second = stack.worker("w2", &settings);
    let notes = stack.notifications(1, MINUTE).await;
    assert_eq!(notes.len(), 1);
    assert_eq!((&notes[0]["state"], &notes[0]["attempts"]), (&"succeeded".into(), &1.into()), "{}", notes[0]);
    assert!(started.elapsed() < Duration::from_secs(40), "not hidden for the 60 s lease: {:?}", started.elapsed());
}

#[tokio::test]
async fn a_key_with_a_dot_segment_is_no_job_and_a_misplaced_mapping_is_told_why() {
    let stack = Stack::new().await;
    let worker = stack.worker("w1", &[]);
    stack.put(&format!("tenants/{ORG_A}/../mapping.toml"), demo_mapping(ORG_A)).await;
    stack.put(&format!("tenants/{ORG_A}/./mapping.toml"), demo_mapping(ORG_A)).await;
    stack.put(&format!("tenants/{ORG_A}/mapping.toml"), demo_mapping(ORG_A)).await;
    stack.upload_job(ORG_A, "real", None).await;
    let notes = stack.notifications(4, MINUTE).await;
    assert_eq!(notes.len(), 4, "{notes:?}");
    // The mappings that start no job are told, with why.
    for (key, why) in [
        (format!("tenants/{ORG_A}/../mapping.toml"), "empty or relative path segment"),
        (format!("tenants/{ORG_A}/./mapping.toml"), "empty or relative path segment"),
        (format!("tenants/{ORG_A}/mapping.toml"), "not under tenants/{org_id}/{job}/"),
    ] {
        let note = notes.iter().find(|n| n["key"] == key).unwrap_or_else(|| panic!("{key}: {notes:?}"));
        assert_eq!((&note["state"], &note["job_id"]), (&"ignored".into(), &serde_json::Value::Null), "{note}");
        let reason = note["reason"].as_str().unwrap();
        assert!(reason.starts_with(why), "{reason}");
        assert!(reason.ends_with("a job's mapping goes at tenants/{org_id}/{job}/mapping.toml"), "{reason}");
    }
    let real = notes.iter().find(|n| n["key"] == format!("tenants/{ORG_A}/real/mapping.toml")).unwrap();
    assert_eq!(real["state"], "succeeded");
    // The worker's own results (and the data file) are told nothing.
    assert!(stack.notifications(1, Duration::from_secs(3)).await.is_empty(), "{}", worker.log_text());
    assert_eq!(stack.count("SELECT count(*) FROM migrate.jobs").await, 1);
}

#[tokio::test]
async fn an_uploaded_mapping_cannot_read_secrets_cross_tenants_leave_its_prefix_or_connect_out() {
    let stack = Stack::new().await;
    let _worker = stack.worker("w1", &[("MAX_ATTEMPTS", "1")]);
    let demo = demo_mapping(ORG_A);
    let cases = [
        (
            "secret",
            demo.replace(
                "\"custom_fields.legacy_notes\" = \"Notes\"",
                "\"custom_fields.legacy_notes\" = { value = \"${DB_PASSWORD}\" }",
            ),
            "uses ${DB_PASSWORD}",
        ),
        ("other-org", demo_mapping(ORG_B), "refused, nothing loaded"),
        (
            "escape",
            demo.replace("path = \"customers.csv\"", "path = \"/etc/passwd\""),
            "outside the job's upload prefix",
        ),
        (
            "climb",
            demo.replace("path = \"customers.csv\"", "path = \"../crm/customers.csv\""),
            "outside the job's upload prefix",
        ),
        (
            "database",
            demo.replace(
                "kind = \"csv\"\npath = \"customers.csv\"",
                "kind = \"mysql\"\nurl = \"mysql://root:x@10.0.0.1/crm\"\ntable = \"customers\"",
            ),
            "reads a database: only a stored mapping",
        ),
    ];
    for (job, mapping, _) in &cases {
        stack.upload_job(ORG_A, job, Some(mapping)).await;
    }
    let notes = stack.notifications(cases.len(), MINUTE).await;
    assert_eq!(notes.len(), cases.len());
    for (job, _, expected) in &cases {
        let note = notes.iter().find(|n| n["key"] == format!("tenants/{ORG_A}/{job}/mapping.toml")).unwrap();
        assert_eq!(note["state"], "failed", "{note}");
        let error = note["summary"]["error"].as_str().unwrap();
        assert!(error.contains(expected), "{job}: {error}");
        assert!(!note.to_string().contains(SECRET));
    }
    assert_eq!(stack.contacts(ORG_A).await + stack.contacts(ORG_B).await, 0);
    let log = std::fs::read_to_string(stack.work.path().join("w1.log")).unwrap();
    assert!(!log.contains(SECRET));
}

#[tokio::test]
async fn a_password_from_a_file_connects_and_stays_out_of_uploads_logs_and_results() {
    let stack = Stack::new().await;
    // The worker's role may only log in with its password, which it reads
    // from a mounted file.
    stack.cluster.admin_sql(DB, &format!("ALTER ROLE {WORKER_ROLE} PASSWORD '{SECRET}'")).await;
    stack
        .cluster
        .set_hba(&format!("host all {WORKER_ROLE} 127.0.0.1/32 scram-sha-256\nhost all all 127.0.0.1/32 trust"));
    let secret_file = stack.work.path().join("db-password");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    let _worker = stack.worker_without(
        "w1",
        &[("MAX_ATTEMPTS", "1"), ("DB_PASSWORD_FILE", secret_file.to_str().unwrap())],
        &["DB_PASSWORD"],
    );
    let demo = demo_mapping(ORG_A);
    let cases = [
        ("good", demo.clone(), "succeeded"),
        // The value would come from the file: an upload still may not ask.
        (
            "secret",
            demo.replace(
                "\"custom_fields.legacy_notes\" = \"Notes\"",
                "\"custom_fields.legacy_notes\" = { value = \"${DB_PASSWORD}\" }",
            ),
            "failed",
        ),
        ("broken", demo.replace("key = [\"CustomerID\"]", "key = [\"NoSuchColumn\"]"), "failed"),
    ];
    for (job, mapping, _) in &cases {
        stack.upload_job(ORG_A, job, Some(mapping)).await;
    }
    let notes = stack.notifications(cases.len(), MINUTE).await;
    assert_eq!(notes.len(), cases.len(), "{notes:?}");
    for (job, _, state) in &cases {
        let note = notes.iter().find(|n| n["key"] == format!("tenants/{ORG_A}/{job}/mapping.toml")).unwrap();
        assert_eq!(note["state"], *state, "{note}");
    }
    let refused = notes.iter().find(|n| n["key"] == format!("tenants/{ORG_A}/secret/mapping.toml")).unwrap();
    assert!(refused["summary"]["error"].as_str().unwrap().contains("uses ${DB_PASSWORD}"), "{refused}");
    assert_eq!(stack.contacts(ORG_A).await, 274);
    // Every output: the log, the notifications, the job rows, and every
    // object the worker wrote (reports, rejects).
    let mut outputs = vec![std::fs::read_to_string(stack.work.path().join("w1.log")).unwrap()];
    outputs.extend(notes.iter().map(ToString::to_string));
    let mut admin = stack.admin().await;
    let jobs: Vec<(String, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT state, last_error, summary::text FROM migrate.jobs")
            .fetch_all(&mut admin)
            .await
            .unwrap();
    assert_eq!(jobs.len(), 3, "{jobs:?}");
    outputs.extend(jobs.iter().map(|j| format!("{j:?}")));
    let written: Vec<String> = stack.keys(&format!("tenants/{ORG_A}/")).await;
    let uploaded: Vec<String> = cases
        .iter()
        .flat_map(|(job, _, _)| ["mapping.toml", "customers.csv"].map(|f| format!("tenants/{ORG_A}/{job}/{f}")))
        .collect();
    let results: Vec<&String> = written.iter().filter(|k| !uploaded.contains(k)).collect();
    assert!(!results.is_empty(), "{written:?}");
    for key in results {
        outputs.push(String::from_utf8_lossy(&stack.get(key).await.unwrap()).into_owned());
    }
    for text in &outputs {
        assert!(!text.contains(SECRET), "the password shows:\n{text}");
    }
}

/// The worker reaches the platform database as `migrate` does: verified
/// TLS against a private CA, a pg_hba.conf that refuses it without TLS.
#[tokio::test]
async fn the_worker_reaches_its_database_over_verified_tls() {
    let pki = migrate_testkit::tls::TestPki::new("platform");
    let cert = pki.server("pg", migrate_testkit::tls::Flaw::None);
    let stack = Stack::on(migrate_testkit::TestCluster::start_tls(&cert)).await;
    stack.cluster.set_hba(&format!(
        "hostssl all {WORKER_ROLE} 127.0.0.1/32 trust\nhostnossl all {WORKER_ROLE} 127.0.0.1/32 reject\nhost all all 127.0.0.1/32 trust"
    ));
    let (ca, port) = (pki.ca_file().display().to_string(), stack.cluster.port.to_string());
    let settings = [
        ("DB_HOST", "localhost"),
        ("DB_PORT", port.as_str()),
        ("DB_NAME", DB),
        ("DB_USER", WORKER_ROLE),
        ("DB_SSLMODE", "verify-full"),
        ("DB_SSLROOTCERT", ca.as_str()),
    ];
    let _worker = stack.worker_without("w1", &settings, &["DATABASE_URL"]);
    stack.upload_job(ORG_A, "over-tls", None).await;
    let notes = stack.notifications(1, MINUTE).await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["state"], "succeeded", "{}", notes[0]);
    assert_eq!(stack.contacts(ORG_A).await, 274);

    // Another CA: the worker is not ready, and /readyz says why.
    let stranger = migrate_testkit::tls::TestPki::new("stranger");
    let other = stranger.ca_file().display().to_string();
    let url = format!(
        "postgres://{WORKER_ROLE}@localhost:{}/{DB}?sslmode=verify-full&sslrootcert={other}",
        stack.cluster.port
    );
    let refused = stack.worker("w2", &[("DATABASE_URL", &url)]);
    let deadline = std::time::Instant::now() + MINUTE;
    let (status, why) = loop {
        let (status, body) = refused.http("/readyz");
        if body.contains("certificate") || std::time::Instant::now() > deadline {
            break (status, body);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(status, 503, "{why}");
    assert!(why.contains("not signed by an authority this machine trusts: set sslrootcert in DATABASE_URL"), "{why}");
}

#[tokio::test]
async fn a_killed_worker_loses_its_job_to_another_after_the_lease_with_exact_rows() {
    let stack = Stack::new().await;
    let (csv, mapping) = bulk_job(ORG_A, 150_000);
    let mut first = stack.worker("w1", &[]);
    stack.put(&format!("tenants/{ORG_A}/bulk/people.csv"), csv).await;
    stack.put(&format!("tenants/{ORG_A}/bulk/mapping.toml"), mapping).await;
    stack.wait_for_job("state = 'running'", MINUTE).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    first.kill();
    assert_eq!(
        stack.count("SELECT count(*) FROM migrate.jobs WHERE state = 'running' AND lease_owner = 'w1'").await,
        1
    );

    let _second = stack.worker("w2", &[]);
    let notes = stack.notifications(1, Duration::from_secs(180)).await;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["state"], "succeeded", "{}", notes[0]);
    assert_eq!(notes[0]["attempts"], 2);
    assert_eq!(notes[0]["summary"]["entities"][0]["inserted"], 150_000);
    assert_eq!(stack.contacts(ORG_A).await, 150_000);
    assert_eq!(stack.count("SELECT count(DISTINCT source_key)::bigint FROM migrate.keys").await, 150_000);
}

#[tokio::test]
async fn a_job_whose_worker_died_on_its_last_attempt_fails_saying_so() {
    let stack = Stack::new().await;
    let (csv, mapping) = bulk_job(ORG_A, 150_000);
    let settings = [("MAX_ATTEMPTS", "1")];
    let mut first = stack.worker("w1", &settings);
    stack.put(&format!("tenants/{ORG_A}/doomed/people.csv"), csv).await;
    stack.put(&format!("tenants/{ORG_A}/doomed/mapping.toml"), mapping).await;
    stack.wait_for_job("state = 'running'", MINUTE).await;
    // As a worker killed by the kernel for its memory would end.
    first.kill();

    let _second = stack.worker("w2", &settings);
    let notes = stack.notifications(1, Duration::from_secs(120)).await;
    assert_eq!(notes.len(), 1);
    assert_eq!((&notes[0]["state"], &notes[0]["attempts"]), (&"failed".into(), &2.into()), "{}", notes[0]);
    let error = notes[0]["summary"]["error"].as_str().unwrap();
    assert_eq!(error, "the worker processing it (w1) died (attempt 1); gave up after 1 attempts");
    assert_eq!(stack.contacts(ORG_A).await, 0, "nothing of the dead worker's run was published");
}

#[tokio::test]
async fn sigterm_mid_job_exits_cleanly_and_the_job_completes_later() {
    let stack = Stack::new().await;
    let (csv, mapping) = bulk_job(ORG_A, 150_000);
    let mut first = stack.worker("w1", &[("SHUTDOWN_GRACE_SECS", "0")]);
    stack.put(&format!("tenants/{ORG_A}/bulk/people.csv"), csv).await;
    stack.put(&format!("tenants/{ORG_A}/bulk/mapping.toml"), mapping).await;
    stack.wait_for_job("state = 'running'", MINUTE).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = first.terminate(MINUTE);
    assert!(status.success(), "{status:?}\n{}", first.log_text());
    assert_eq!(stack.count("SELECT count(*) FROM migrate.jobs WHERE state = 'queued' AND attempts = 0").await, 1);
    assert_eq!(stack.contacts(ORG_A).await, 0, "a cancelled run publishes nothing");

    let _second = stack.worker("w2", &[]);
    let notes = stack.notifications(1, Duration::from_secs(180)).await;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["state"], "succeeded");
    assert_eq!(notes[0]["attempts"], 1);
    assert_eq!(stack.contacts(ORG_A).await, 150_000);
}

#[tokio::test]
async fn two_workers_share_ten_uploads_and_run_each_once() {
    let stack = Stack::new().await;
    let a = stack.worker("w1", &[]);
    let b = stack.worker("w2", &[]);
    for i in 0..10 {
        let org = if i % 2 == 0 { ORG_A } else { ORG_B };
        stack.upload_job(org, &format!("batch-{i}"), None).await;
    }
    let notes = stack.notifications(10, Duration::from_secs(240)).await;
    assert_eq!(notes.len(), 10);
    assert!(notes.iter().all(|n| n["state"] == "succeeded"), "{notes:?}");
    stack.drained(MINUTE).await;
    assert_eq!(stack.count("SELECT count(*) FROM migrate.jobs WHERE state = 'succeeded' AND attempts = 1").await, 10);
    assert_eq!(stack.count("SELECT count(*) FROM migrate.runs").await, 10);
    assert_eq!((stack.contacts(ORG_A).await, stack.contacts(ORG_B).await), (274, 274));
    let by_worker = |w: &support::Worker| w.log_text().lines().filter(|l| l.contains("\"job ended\"")).count();
    assert_eq!(by_worker(&a) + by_worker(&b), 10);
}

#[tokio::test]
async fn a_large_upload_is_split_staged_by_two_workers_and_published_as_one_balanced_run() {
    let stack = Stack::new().await;
    // 20,000 rows: every 1000th without an email (rejected, with its line),
    // every 777th with a quoted newline (a boundary a blind seek would
    // cut), and the last 10 repeating the first 10 keys (later wins; the
    // very last is itself rejected, so 9 duplicates).
    let mut csv = String::from("id,first,last,email\n");
    let mut line = 2u64;
    let mut rejected_lines = Vec::new();
    for i in 0..20_000u64 {
        let id = if i >= 19_990 { i - 19_990 } else { i };
        let first = if i % 777 == 0 { format!("\"Multi\nLine {i}\"") } else { format!("First{i}") };
        let email = if i % 1000 == 999 { String::new() } else { format!("p{i}@example.com") };
        if email.is_empty() {
            rejected_lines.push(line);
        }
        csv.push_str(&format!("B{id:07},{first},Last{i},{email}\n"));
        line += if i % 777 == 0 { 2 } else { 1 };
    }
    let (_, mapping) = bulk_job(ORG_A, 0);
    let mapping = mapping.replace(
        "email = { from = \"email\", transform = [\"trim\", \"lowercase\"] }",
        "email = { from = \"email\", transform = [\"trim\", \"lowercase\"], required = true }",
    );
    let settings = [("PARTITION_BYTES", "100000")];
    let a = stack.worker("w1", &settings);
    let b = stack.worker("w2", &settings);
    stack.put(&format!("tenants/{ORG_A}/big/people.csv"), csv.clone()).await;
    stack.put(&format!("tenants/{ORG_A}/big/mapping.toml"), mapping).await;

    let notes = stack.notifications(1, Duration::from_secs(240)).await;
    assert_eq!(notes.len(), 1, "{}\n{}", a.log_text(), b.log_text());
    let note = &notes[0];
    assert_eq!(note["state"], "succeeded", "{note}");
    let counts = &note["summary"]["entities"][0];
    assert_eq!(
        (&counts["read"], &counts["rejected"], &counts["duplicates"], &counts["loaded"], &counts["balanced"]),
        (&20_000.into(), &20.into(), &9.into(), &19_971.into(), &true.into())
    );
    assert_eq!(stack.contacts(ORG_A).await, 19_971);
    let mut conn = stack.admin().await;
    let (email, first): (String, String) = sqlx::query_as(
        "SELECT c.email, c.first_name FROM contacts c JOIN migrate.keys k ON k.target_id = c.id
          WHERE k.source_key = 'B0000000'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!((email.as_str(), first.as_str()), ("p19990@example.com", "First19990"), "the later row survives");
    let multi: i64 = sqlx::query_scalar("SELECT count(*) FROM contacts WHERE first_name LIKE 'Multi\nLine %'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(multi, 26 - 1, "rows 0..19999 step 777, less row 0 whose key a later row took");

    let parts = stack.count("SELECT count(*) FROM migrate.job_partitions WHERE state = 'staged'").await;
    assert!(parts >= 6, "{parts} partitions");
    assert_eq!(stack.count("SELECT count(*) FROM migrate.job_partitions").await, parts);
    assert_eq!(
        stack.count("SELECT count(*) FROM migrate.jobs WHERE phase = 'publish' AND state = 'succeeded'").await,
        1
    );
    assert_eq!(stack.count("SELECT count(*) FROM migrate.runs WHERE status = 'succeeded'").await, 1);
    let staged_by = |w: &support::Worker| {
        // "partition staged", or "last partition staged: publish enqueued".
        w.log_text().lines().filter(|l| l.contains("partition staged")).count() as i64
    };
    assert_eq!(staged_by(&a) + staged_by(&b), parts);
    // Metrics count the job once and its rows once, whichever worker
    // staged or published what.
    let metric = |name: &str| -> i64 {
        [&a, &b]
            .iter()
            .map(|w| {
                let (_, text) = w.http("/metrics");
                text.lines().find_map(|l| l.strip_prefix(&format!("{name} "))).map_or(0, |v| v.parse::<i64>().unwrap())
            })
            .sum()
    };
    assert_eq!(metric("migrate_worker_jobs_total{outcome=\"succeeded\"}"), 1);
    assert_eq!(metric("migrate_worker_rows_total{outcome=\"read\"}"), 20_000);
    assert_eq!(metric("migrate_worker_partitions_staged_total"), parts);
    assert_eq!(metric("migrate_worker_splits_total"), 1);

    // One report for the whole run, describing the whole file.
    let run_id = note["run_id"].as_str().unwrap().to_string();
    let results = format!("tenants/{ORG_A}/big/_results/{run_id}/");
    let report: serde_json::Value =
        serde_json::from_slice(&stack.get(&format!("{results}report.json")).await.unwrap()).unwrap();
    migrate_testkit::check_report(&report);
    assert_eq!(report["entities"][0]["target_count"], 19_971);
    assert_eq!(report["entities"][0]["balanced"], true);
    assert_eq!(report["sources"][0]["size"], csv.len() as u64);
    assert_eq!(report["sources"][0]["row_count"], 20_000);
    // The duplicates the publish found, each with the row that survived.
    let duplicates = String::from_utf8(stack.get(&format!("{results}duplicates/contacts.csv")).await.unwrap()).unwrap();
    let dup_rows: Vec<csv::StringRecord> =
        csv::Reader::from_reader(duplicates.as_bytes()).records().map(Result::unwrap).collect();
    assert_eq!(dup_rows.len(), 9, "{duplicates}");
    let file = format!("s3://{BUCKET}/tenants/{ORG_A}/big/people.csv:");
    assert!(dup_rows.iter().all(|r| r[0].starts_with(&file) && r[1].starts_with(&file)), "{duplicates}");
    assert_eq!(&dup_rows[0][2], "B0000000");
    // Each partition's rejects, with the lines of the whole file.
    let mut lines = Vec::new();
    for key in stack.keys(&format!("{results}partitions/")).await {
        let text = String::from_utf8(stack.get(&key).await.unwrap()).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        for r in reader.records() {
            let location = r.unwrap()[0].to_string();
            lines.push(location.rsplit(':').next().unwrap().parse::<u64>().unwrap());
        }
    }
    lines.sort_unstable();
    assert_eq!(lines, rejected_lines);
}

#[tokio::test]
async fn a_large_headerless_upload_is_split_with_no_record_taken_for_a_header() {
    let stack = Stack::new().await;
    // 6,000 records and no header row; every 1000th lacks its email
    // (required): rejected with the line it is on in the whole file.
    let mut csv = String::new();
    let mut rejected_lines = Vec::new();
    for i in 0..6_000u64 {
        let email = if i % 1000 == 999 { String::new() } else { format!("p{i}@example.com") };
        if email.is_empty() {
            rejected_lines.push(i + 1);
        }
        csv.push_str(&format!("B{i:07},First{i},Last{i},{email}\n"));
    }
    let (_, mapping) = bulk_job(ORG_A, 0);
    let mapping = mapping
        .replace("path = \"people.csv\"", "path = \"people.csv\"\nheader = false")
        .replace("key = [\"id\"]", "key = [\"column_1\"]")
        .replace("first_name = \"first\"", "first_name = \"column_2\"")
        .replace("last_name = \"last\"", "last_name = \"column_3\"")
        .replace(
            "email = { from = \"email\", transform = [\"trim\", \"lowercase\"] }",
            "email = { from = \"column_4\", transform = [\"trim\", \"lowercase\"], required = true }",
        );
    let worker = stack.worker("w1", &[("PARTITION_BYTES", "40000")]);
    stack.put(&format!("tenants/{ORG_A}/flat/people.csv"), csv.clone()).await;
    stack.put(&format!("tenants/{ORG_A}/flat/mapping.toml"), mapping).await;

    let notes = stack.notifications(1, Duration::from_secs(240)).await;
    assert_eq!(notes.len(), 1, "{}", worker.log_text());
    let note = &notes[0];
    assert_eq!(note["state"], "succeeded", "{note}");
    let counts = &note["summary"]["entities"][0];
    assert_eq!(
        (&counts["read"], &counts["rejected"], &counts["loaded"], &counts["balanced"]),
        (&6_000.into(), &6.into(), &5_994.into(), &true.into())
    );
    let parts = stack.count("SELECT count(*) FROM migrate.job_partitions WHERE state = 'staged'").await;
    assert!(parts >= 4, "{parts} partitions");
    let mut conn = stack.admin().await;
    let first: String = sqlx::query_scalar(
        "SELECT c.first_name FROM contacts c JOIN migrate.keys k ON k.target_id = c.id WHERE k.source_key = 'B0000000'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(first, "First0", "the file's first record is a row, not a header");

    let run_id = note["run_id"].as_str().unwrap().to_string();
    let results = format!("tenants/{ORG_A}/flat/_results/{run_id}/");
    let report: serde_json::Value =
        serde_json::from_slice(&stack.get(&format!("{results}report.json")).await.unwrap()).unwrap();
    migrate_testkit::check_report(&report);
    assert_eq!(report["sources"][0]["header"]["consumed"], false);
    assert_eq!(report["sources"][0]["row_count"], 6_000);
    let mut lines = Vec::new();
    for key in stack.keys(&format!("{results}partitions/")).await {
        let text = String::from_utf8(stack.get(&key).await.unwrap()).unwrap();
        for r in csv::Reader::from_reader(text.as_bytes()).records() {
            let location = r.unwrap()[0].to_string();
            assert!(location.starts_with(&format!("s3://{BUCKET}/tenants/{ORG_A}/flat/people.csv:")), "{location}");
            lines.push(location.rsplit(':').next().unwrap().parse::<u64>().unwrap());
        }
    }
    lines.sort_unstable();
    assert_eq!(lines, rejected_lines);
}

#[tokio::test]
async fn a_bcp_dump_with_multi_character_terminators_is_split_on_its_record_terminators() {
    let stack = Stack::new().await;
    // `bcp … -c -t "+|" -r "&|\r\n"`: 6,000 records, every 7th with a line
    // break inside a field (a cut at a line would split that record), every
    // 1000th without its email (required): rejected with its line.
    let mut dump = String::new();
    let mut rejected_lines = Vec::new();
    let mut line = 1u64;
    for i in 0..6_000u64 {
        let email = if i % 1000 == 999 { String::new() } else { format!("p{i}@example.com") };
        if email.is_empty() {
            rejected_lines.push(line);
        }
        let last = if i % 7 == 3 { format!("Last{i}\r\n(second line)") } else { format!("Last{i}") };
        line += 1 + u64::from(i % 7 == 3);
        dump.push_str(&format!("B{i:07}+|First{i}+|{last}+|{email}&|\r\n"));
    }
    let (_, mapping) = bulk_job(ORG_A, 0);
    let mapping = mapping
        .replace(
            "path = \"people.csv\"",
            "path = \"people.csv\"\nheader = false\nfield_terminator = \"+|\"\nrecord_terminator = \"&|\\r\\n\"",
        )
        .replace("key = [\"id\"]", "key = [\"column_1\"]")
        .replace("first_name = \"first\"", "first_name = \"column_2\"")
        .replace("last_name = \"last\"", "last_name = \"column_3\"")
        .replace(
            "email = { from = \"email\", transform = [\"trim\", \"lowercase\"] }",
            "email = { from = \"column_4\", transform = [\"trim\", \"lowercase\"], required = true }",
        );
    assert!(mapping.contains("record_terminator"), "{mapping}");
    let worker = stack.worker("w1", &[("PARTITION_BYTES", "40000")]);
    stack.put(&format!("tenants/{ORG_A}/bcp/people.csv"), dump).await;
    stack.put(&format!("tenants/{ORG_A}/bcp/mapping.toml"), mapping).await;

    let notes = stack.notifications(1, Duration::from_secs(240)).await;
    assert_eq!(notes.len(), 1, "{}", worker.log_text());
    let note = &notes[0];
    assert_eq!(note["state"], "succeeded", "{note}");
    let counts = &note["summary"]["entities"][0];
    assert_eq!(
        (&counts["read"], &counts["rejected"], &counts["loaded"], &counts["balanced"]),
        (&6_000.into(), &6.into(), &5_994.into(), &true.into())
    );
    let parts = stack.count("SELECT count(*) FROM migrate.job_partitions WHERE state = 'staged'").await;
    assert!(parts >= 4, "{parts} partitions");
    let mut conn = stack.admin().await;
    let kept: (String, String) = sqlx::query_as(
        "SELECT c.first_name, c.last_name FROM contacts c JOIN migrate.keys k ON k.target_id = c.id
          WHERE k.source_key = 'B0000003'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(kept, ("First3".to_string(), "Last3\r\n(second line)".to_string()), "a field keeps its line break");
    let broken =
        stack.count("SELECT count(*) FROM contacts WHERE last_name LIKE '%&|%' OR first_name LIKE '%+|%'").await;
    assert_eq!(broken, 0, "no terminator inside a value: every part began at a record");

    let run_id = note["run_id"].as_str().unwrap().to_string();
    let results = format!("tenants/{ORG_A}/bcp/_results/{run_id}/");
    let report: serde_json::Value =
        serde_json::from_slice(&stack.get(&format!("{results}report.json")).await.unwrap()).unwrap();
    migrate_testkit::check_report(&report);
    assert_eq!(report["sources"][0]["delimiter"], "+|");
    assert_eq!(report["sources"][0]["quoting"], "none");
    let mut lines = Vec::new();
    for key in stack.keys(&format!("{results}partitions/")).await {
        let text = String::from_utf8(stack.get(&key).await.unwrap()).unwrap();
        for r in csv::Reader::from_reader(text.as_bytes()).records() {
            lines.push(r.unwrap()[0].rsplit(':').next().unwrap().parse::<u64>().unwrap());
        }
    }
    lines.sort_unstable();
    assert_eq!(lines, rejected_lines);
}

#[tokio::test]
async fn a_tenants_stored_mapping_runs_when_data_arrives_and_may_read_the_environment() {
    let stack = Stack::new().await;
    let _worker = stack.worker("w1", &[("ORG_ID", ORG_B)]);
    // Stored by the platform, not uploaded by the customer: ${ORG_ID} is
    // the worker's own setting.
    let stored = std::fs::read_to_string(workspace().join("fixtures/demo/mapping.toml")).unwrap();
    assert!(stored.contains("${ORG_ID}"));
    stack.put(&format!("mappings/{ORG_B}.toml"), stored).await;
    let csv = std::fs::read(workspace().join("fixtures/demo/customers.csv")).unwrap();
    stack.put(&format!("tenants/{ORG_B}/weekly/customers.csv"), csv).await;
    let notes = stack.notifications(1, MINUTE).await;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["state"], "succeeded", "{}", notes[0]);
    assert_eq!(notes[0]["key"], format!("tenants/{ORG_B}/weekly/customers.csv"));
    assert_eq!(stack.contacts(ORG_B).await, 274);
    let run_id = notes[0]["run_id"].as_str().unwrap();
    let report: serde_json::Value = serde_json::from_slice(
        &stack.get(&format!("tenants/{ORG_B}/weekly/_results/{run_id}/report.json")).await.unwrap(),
    )
    .unwrap();
    migrate_testkit::check_report(&report);
    assert_eq!(report["mapping"]["path"], format!("s3://{BUCKET}/mappings/{ORG_B}.toml"));
    // Without a stored mapping, a data upload waits for its mapping.toml.
    stack.put(&format!("tenants/{ORG_A}/pending/customers.csv"), "CustomerID\n1\n").await;
    stack.drained(MINUTE).await;
    assert_eq!(stack.count("SELECT count(*) FROM migrate.jobs").await, 1);
}

#[test]
fn help_and_version_print_and_exit_and_a_bad_setting_is_one_sentence_on_a_terminal() {
    let bin = env!("CARGO_BIN_EXE_migrate-worker");
    let help = std::process::Command::new(bin).arg("--help").env_clear().output().unwrap();
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for needle in
        ["QUEUE_URL", "[required]", "JOB_LEASE_SECS", "[60]", "/readyz", "Exit codes: 0", "MAX_UNPACKED_BYTES"]
    {
        assert!(text.contains(needle), "{needle} not in\n{text}");
    }
    let version = std::process::Command::new(bin).arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("migrate-worker {}", env!("CARGO_PKG_VERSION"))
    );
    let bad = std::process::Command::new(bin).arg("--queue").output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown argument \"--queue\""));

    // No terminal: a JSON log line. On a terminal (script gives it one): a sentence.
    let logged = std::process::Command::new(bin).env_clear().output().unwrap();
    assert_eq!(logged.status.code(), Some(2));
    let line: serde_json::Value = serde_json::from_slice(logged.stderr.trim_ascii()).unwrap();
    assert_eq!(line["fields"]["error"], "QUEUE_URL is not set");
    let tty =
        std::process::Command::new("script").args(["-qec", &format!("env -i {bin}"), "/dev/null"]).output().unwrap();
    assert_eq!(tty.status.code(), Some(2));
    let said = String::from_utf8_lossy(&tty.stdout);
    assert_eq!(said.trim(), "migrate-worker: QUEUE_URL is not set (see migrate-worker --help)");
}
