//! The signed webhook against a local receiver: each notification is
//! POSTed with an HMAC-SHA256 signature of its body, a receiver that fails
//! is retried with backoff, and the failures are logged and counted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MINUTE: Duration = Duration::from_secs(60);
const WEBHOOK_SECRET: &str = "whsec-shared-with-the-receiver-7";

/// One POST the receiver got: its headers (lowercased names) and body.
#[derive(Debug, Clone)]
struct Delivery {
    headers: Vec<(String, String)>,
    body: String,
}

impl Delivery {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// A receiver on loopback that answers `statuses` in turn (the last one
/// from then on) and keeps what it got.
async fn receiver(statuses: Vec<u16>) -> (String, Arc<Mutex<Vec<Delivery>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/migrate", listener.local_addr().unwrap());
    let got: Arc<Mutex<Vec<Delivery>>> = Arc::default();
    let kept = got.clone();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut raw = Vec::new();
            let mut buf = [0u8; 8192];
            let (head, body) = loop {
                let n = socket.read(&mut buf).await.unwrap();
                raw.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&raw).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string())
                        })
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    if body.len() >= length || n == 0 {
                        break (head.to_string(), body.to_string());
                    }
                }
            };
            let headers = head
                .lines()
                .skip(1)
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
                .collect();
            let status = {
                let mut got = kept.lock().unwrap();
                got.push(Delivery { headers, body });
                statuses.get(got.len() - 1).or(statuses.last()).copied().unwrap_or(200)
            };
            let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = socket.write_all(reply.as_bytes()).await;
        }
    });
    (url, got)
}

/// The signature the receiver computes itself, with the shared secret.
fn expected_signature(body: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, WEBHOOK_SECRET.as_bytes());
    format!("sha256={}", hex::encode(ring::hmac::sign(&key, body.as_bytes()).as_ref()))
}

async fn deliveries(got: &Arc<Mutex<Vec<Delivery>>>, count: usize) -> Vec<Delivery> {
    let deadline = std::time::Instant::now() + MINUTE;
    loop {
        let now = got.lock().unwrap().clone();
        if now.len() >= count || std::time::Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_webhook_is_signed_and_retried_until_the_receiver_takes_it() {
    let stack = Stack::new().await;
    // The receiver fails twice, then takes the notification.
    let (url, got) = receiver(vec![503, 500, 200]).await;
    let worker = stack.worker(
        "w1",
        &[("WEBHOOK_URL", url.as_str()), ("WEBHOOK_SECRET", WEBHOOK_SECRET), ("WEBHOOK_RETRY_SECS", "1")],
    );
    stack.upload_job(ORG_A, "crm", None).await;
    let note = stack.notifications(1, MINUTE).await.pop().expect("the queue notification");
    let all = deliveries(&got, 3).await;
    assert_eq!(all.len(), 3, "{}", worker.log_text());
    for (i, d) in all.iter().enumerate() {
        // The same body each time: the queue's notification, signed.
        let body: serde_json::Value = serde_json::from_str(&d.body).unwrap();
        assert_eq!(body, note);
        assert_eq!(d.header("x-migrate-signature"), Some(expected_signature(&d.body).as_str()));
        assert_eq!(d.header("x-migrate-attempt"), Some((i + 1).to_string().as_str()));
        assert_eq!(d.header("content-type"), Some("application/json"));
    }
    // A body changed in transit no longer matches its signature.
    let tampered = all[2].body.replace("succeeded", "failed");
    assert_ne!(all[2].header("x-migrate-signature"), Some(expected_signature(&tampered).as_str()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, metrics) = worker.http("/metrics");
    assert!(metrics.lines().any(|l| l == "migrate_worker_webhooks_total{outcome=\"delivered\"} 1"), "{metrics}");
    assert!(metrics.lines().any(|l| l == "migrate_worker_webhook_failed_deliveries_total 2"), "{metrics}");
    let log = worker.log_text();
    assert_eq!(log.matches("webhook delivery failed").count(), 2, "{log}");
    assert!(log.contains("answered 503"), "{log}");
    assert!(!log.contains(WEBHOOK_SECRET), "the secret is in the log");
}

#[tokio::test]
async fn a_webhook_that_never_answers_is_given_up_counted_and_the_job_still_ends() {
    let stack = Stack::new().await;
    let (url, got) = receiver(vec![500]).await;
    let worker = stack.worker(
        "w1",
        &[
            ("WEBHOOK_URL", url.as_str()),
            ("WEBHOOK_SECRET", WEBHOOK_SECRET),
            ("WEBHOOK_ATTEMPTS", "2"),
            ("WEBHOOK_RETRY_SECS", "1"),
        ],
    );
    stack.upload_job(ORG_A, "crm", None).await;
    let note = stack.notifications(1, MINUTE).await.pop().expect("the queue notification");
    assert_eq!(note["state"], "succeeded");
    assert_eq!(deliveries(&got, 2).await.len(), 2);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, metrics) = worker.http("/metrics");
    assert!(metrics.lines().any(|l| l == "migrate_worker_webhooks_total{outcome=\"failed\"} 1"), "{metrics}");
    assert!(metrics.lines().any(|l| l == "migrate_worker_webhook_failed_deliveries_total 2"), "{metrics}");
    assert!(worker.log_text().contains("webhook gave up"), "{}", worker.log_text());
    assert_eq!(deliveries(&got, 3).await.len(), 2, "no delivery after the last attempt");
}

#[test]
fn a_webhook_without_its_secret_is_a_bad_setting() {
    let said = bad_setting(&[("WEBHOOK_URL", "https://hooks.example.com/migrate")]);
    assert!(said.contains("WEBHOOK_URL is set but WEBHOOK_SECRET is not"), "{said}");
}
