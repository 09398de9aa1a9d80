//! The optional signed webhook: each job's notification is also POSTed to
//! `WEBHOOK_URL`. The body is the notification's JSON; the header
//! `X-Migrate-Signature: sha256=<hex>` is HMAC-SHA256 of the body with
//! `WEBHOOK_SECRET`. A delivery that fails (no answer in 10 s, or a status
//! other than 2xx) is retried with backoff; failures are logged and
//! counted, and the job's outcome does not depend on them.

use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tracing::{error, info, warn};

use crate::metrics::Metrics;

/// How long one delivery may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The longest wait between two deliveries.
const MAX_DELAY: Duration = Duration::from_secs(60);

/// `WEBHOOK_URL` and what goes with it (its `Debug` leaves the secret
/// out).
#[derive(Clone)]
pub struct WebhookConfig {
    pub url: hyper::Uri,
    /// `WEBHOOK_SECRET`: the HMAC key, shared with the receiver.
    pub secret: String,
    /// `WEBHOOK_ATTEMPTS` (default 5): deliveries before giving up.
    pub attempts: u32,
    /// `WEBHOOK_RETRY_SECS` (default 1): the first wait, doubled after
    /// each failed delivery, at most a minute.
    pub first_delay: Duration,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &self.url)
            .field("secret", &"[redacted]")
            .field("attempts", &self.attempts)
            .field("first_delay", &self.first_delay)
            .finish()
    }
}

/// The signature header's value for `body`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    format!("sha256={}", hex::encode(ring::hmac::sign(&key, body).as_ref()))
}

pub struct Webhook {
    config: WebhookConfig,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Webhook {
    pub fn new(config: WebhookConfig) -> std::io::Result<Self> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self { config, client: Client::builder(TokioExecutor::new()).build(https) })
    }

    async fn post(&self, body: &str, attempt: u32) -> Result<(), String> {
        let request = hyper::Request::post(self.config.url.clone())
            .header("content-type", "application/json")
            .header("x-migrate-signature", signature(&self.config.secret, body.as_bytes()))
            .header("x-migrate-attempt", attempt.to_string())
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| e.to_string())?;
        match tokio::time::timeout(TIMEOUT, self.client.request(request)).await {
            Err(_) => Err(format!("no answer within {} s", TIMEOUT.as_secs())),
            Ok(Err(e)) => Err(format!("cannot be reached ({e})")),
            Ok(Ok(response)) if response.status().is_success() => Ok(()),
            Ok(Ok(response)) => Err(format!("answered {}", response.status())),
        }
    }

    /// Delivers `body`, retrying with backoff; true once delivered.
    pub async fn deliver(&self, body: &str, metrics: &Metrics) -> bool {
        let mut delay = self.config.first_delay;
        let attempts = self.config.attempts.max(1);
        for attempt in 1..=attempts {
            match self.post(body, attempt).await {
                Ok(()) => {
                    metrics.webhook("delivered");
                    info!(attempt, "webhook delivered");
                    return true;
                }
                Err(why) => {
                    metrics.webhook_attempt_failed();
                    warn!(attempt, of = attempts, error = %why, url = %self.config.url, "webhook delivery failed");
                }
            }
            if attempt < attempts {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_DELAY);
            }
        }
        metrics.webhook("failed");
        error!(attempts, url = %self.config.url, "webhook gave up: the notification was not delivered");
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_not_in_the_settings_debug_text() {
        let config = WebhookConfig {
            url: "https://hooks.example.com/x".parse().unwrap_or_default(),
            secret: "whsec-never-shown".into(),
            attempts: 5,
            first_delay: Duration::from_secs(1),
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("whsec-never-shown") && shown.contains("[redacted]"), "{shown}");
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_the_body() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
