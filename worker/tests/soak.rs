//! A long run: one worker takes 20 consecutive jobs of mixed kinds (the
//! demo for two orgs, a 5,000-row file, a mapping that fails), and its
//! memory, open files and database connections do not grow with them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use support::*;

const MINUTE: Duration = Duration::from_secs(60);

/// Resident memory (KiB) and open file descriptors of a process.
fn usage(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count();
    (rss, fds)
}

#[tokio::test]
async fn twenty_consecutive_jobs_leave_memory_files_and_connections_flat() {
    let stack = Stack::new().await;
    let worker = stack.worker("soak", &[("MAX_ATTEMPTS", "1")]);
    let pid = worker.child.id();
    let (bulk_csv, bulk_mapping) = bulk_job(ORG_B, 5_000);
    let broken = demo_mapping(ORG_A).replace("email = {", "emial = {");
    let mut samples = Vec::new();
    for i in 0..20 {
        let job = format!("soak-{i}");
        let want = match i % 4 {
            0 => {
                stack.upload_job(ORG_A, &job, None).await;
                "succeeded"
            }
            1 => {
                stack.put(&format!("tenants/{ORG_B}/{job}/people.csv"), bulk_csv.clone()).await;
                stack.put(&format!("tenants/{ORG_B}/{job}/mapping.toml"), bulk_mapping.clone()).await;
                "succeeded"
            }
            2 => {
                stack.upload_job(ORG_A, &job, Some(&broken)).await;
                "failed"
            }
            _ => {
                stack.upload_job(ORG_B, &job, None).await;
                "succeeded"
            }
        };
        let notes = stack.notifications(1, MINUTE).await;
        assert_eq!(notes.len(), 1, "job {i}: one notification");
        assert_eq!(notes[0]["state"], want, "job {i}: {}", notes[0]);
        let connections =
            stack.count(&format!("SELECT count(*) FROM pg_stat_activity WHERE usename = '{WORKER_ROLE}'")).await;
        let (rss, fds) = usage(pid);
        samples.push((rss, fds, connections));
    }
    // Re-runs of the same files add nothing: the demo once per org, and
    // the 5,000-row file once.
    assert_eq!((stack.contacts(ORG_A).await, stack.contacts(ORG_B).await), (274, 274 + 5_000));
    assert_eq!(stack.count("SELECT count(*) FROM migrate.jobs").await, 20);

    // After five jobs of warm-up (pools filled, allocator settled), nothing
    // grows: the last five jobs use no more than the five after warm-up.
    let window = |r: std::ops::Range<usize>| {
        samples[r].iter().fold((0, 0, 0), |m, s| (m.0.max(s.0), m.1.max(s.1), m.2.max(s.2)))
    };
    let (rss_warm, fds_warm, conns_warm) = window(5..10);
    let (rss_end, fds_end, conns_end) = window(15..20);
    let shown = format!("samples (RSS KiB, fds, connections) per job: {samples:?}");
    assert!(fds_end <= fds_warm, "open files grew: {shown}");
    assert!(conns_end <= conns_warm, "connections grew: {shown}");
    assert!(rss_end * 10 <= rss_warm * 12, "memory grew by more than 20%: {shown}");
    eprintln!("{shown}");
}
