//! [`HttpProber`] (reqwest, rustls) and [`TokioSleeper`] (from `parky-core`): the real
//! smoke-test adapters.

use async_trait::async_trait;

use super::config::SmokeTest;
use super::execute::{ProbeResult, Prober};
use crate::error::DeployError;

// The real `Sleeper`: `tokio::time::sleep` (it follows tokio's paused test time too).
pub use parky_core::TokioSleeper;

/// A [`Prober`] that sends `GET <url>` and passes when the status equals
/// `expect_status`.
///
/// Redirects are not followed (a `301` is compared as a `301`); the attempt's deadline is
/// the smoke test's `timeout` (connect, send and the whole body).
#[derive(Debug, Clone)]
pub struct HttpProber {
    http: reqwest::Client,
}

impl HttpProber {
    /// A prober with its own client.
    ///
    /// # Errors
    /// [`DeployError::InvalidConfig`] (field `http_client`) when the TLS client cannot be
    /// built.
    pub fn new() -> Result<Self, DeployError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("parky-deploy/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| DeployError::InvalidConfig {
                field: "http_client".to_owned(),
                reason: e.without_url().to_string(),
            })?;
        Ok(Self { http })
    }

    /// Use this reqwest client instead (its proxy, TLS and redirect settings).
    #[must_use]
    pub fn with_http_client(http: reqwest::Client) -> Self {
        Self { http }
    }
}

#[async_trait]
impl Prober for HttpProber {
    async fn probe(&self, _service: &str, test: &SmokeTest) -> ProbeResult {
        let timed_out = || ProbeResult::Failed {
            reason: format!(
                "no reply within {}",
                humantime::format_duration(test.timeout)
            ),
        };
        let failed = |e: reqwest::Error| {
            if e.is_timeout() {
                timed_out()
            } else {
                ProbeResult::Failed {
                    reason: format!("request failed: {}", describe(&e.without_url())),
                }
            }
        };
        let response = match self
            .http
            .get(test.url.clone())
            .timeout(test.timeout)
            .send()
            .await
        {
            Ok(response) => response,
            Err(e) => return failed(e),
        };
        let status = response.status().as_u16();
        // Read the body so the deadline covers the whole reply.
        if let Err(e) = response.bytes().await {
            return failed(e);
        }
        if status == test.expect_status {
            ProbeResult::Passed
        } else {
            ProbeResult::Failed {
                reason: format!("HTTP {status}, expected {}", test.expect_status),
            }
        }
    }
}

/// An error and its sources, joined with `: `.
fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
