//! A generic JSON webhook: `POST` the [`Message`] itself as JSON (its serde form, the same
//! one the outbox stores), optionally with `Authorization: Bearer <token>`.
//!
//! Any 2xx is success. Other statuses become [`NotifyError::Delivery`] with the body's first
//! 200 characters (secrets removed) as the message and `Retry-After` honoured; 408, 425, 429,
//! 500, 502, 503 and 504 are retryable, the rest permanent.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parky_core::{redact, ApiError, Clock, SecretString, SecretUrl, SystemClock};

use super::http::{excerpt, redact_url, Transport};
use super::{Delivery, Notifier};
use crate::error::NotifyError;
use crate::message::Message;

const SERVICE: &str = "webhook";

/// A generic JSON webhook receiver. `Debug` shows neither the URL's path nor the token.
pub struct JsonWebhook {
    name: String,
    url: SecretUrl,
    token: Option<SecretString>,
    transport: Transport,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for JsonWebhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonWebhook")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl JsonWebhook {
    /// A receiver called `name` posting to `url`, without authentication, 10 s timeout.
    ///
    /// # Errors
    /// [`NotifyError::ReceiverSetup`] if the HTTP client cannot be built.
    pub fn new(name: impl Into<String>, url: SecretUrl) -> Result<Self, NotifyError> {
        let name = name.into();
        let transport = Transport::new(&name)?;
        Ok(Self {
            name,
            url,
            token: None,
            transport,
            clock: Arc::new(SystemClock),
        })
    }

    /// Send `Authorization: Bearer <token>`.
    #[must_use]
    pub fn with_bearer_token(mut self, token: SecretString) -> Self {
        self.token = Some(token);
        self
    }

    /// The clock an HTTP-date `Retry-After` is resolved against.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The per-request timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.transport.set_timeout(timeout);
        self
    }

    fn redact(&self, text: &str) -> String {
        let text = redact_url(&self.url, text);
        match &self.token {
            Some(token) => redact(&text, &[token]),
            None => text,
        }
    }
}

#[async_trait]
impl Notifier for JsonWebhook {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, message: &Message) -> Result<Delivery, NotifyError> {
        let redact = |text: &str| self.redact(text);
        let error = |source| NotifyError::Delivery {
            receiver: self.name.clone(),
            source,
        };
        let reply = self
            .transport
            .post_json(
                SERVICE,
                self.url.expose_url().clone(),
                message,
                self.token.as_ref(),
                &redact,
            )
            .await
            .map_err(error)?;
        if reply.is_success() {
            return Ok(Delivery::Webhook {
                status: reply.status,
            });
        }
        let err = error(
            ApiError::status(SERVICE, reply.status, excerpt(&reply.body, &redact))
                .with_retry_after(reply.retry_after(self.clock.now())),
        );
        tracing::warn!(receiver = %self.name, error = %err, "webhook refused the message");
        Err(err)
    }
}
