//! [`GitHubSource`]: delivery history from GitHub's REST API, over reqwest (rustls).
//!
//! # What is read
//! | record | endpoint | notes |
//! |---|---|---|
//! | deployments | `GET /repos/{owner}/{repo}/deployments?environment={env}&per_page=100` | newest first; paging stops once the chain before `since` is complete (see below) |
//! | outcome and time | `GET …/deployments/{id}/statuses?per_page=100` | the latest status (by `created_at`, then `id`): `success` and `inactive` → success (GitHub only marks a deployment `inactive` after it succeeded and a later one replaced it), `failure` and `error` → failure, anything else or none → pending; `at` = that status's `created_at`, else the deployment's |
//! | releases (option) | `GET …/releases?per_page=100` | drafts skipped, pre-releases unless [`GitHubOptions::include_prereleases`]; `at` = `published_at`; id and commit = the tag name; a release an incident links to is a failure |
//! | what a deployment newly ships | `GET …/compare/{base}...{head}?per_page=100` | base = the previous deployment of the same service (its `sha`, or tag), head = this one |
//! | pull requests | `GET …/pulls?state=closed&sort=updated&direction=desc&per_page=100` | merged ones (`merged_at` set): `merge_commit_sha` gets the number and merge time; for a shipped two-parent merge commit also `GET …/pulls/{n}/commits?per_page=100` (GitHub lists at most 250 commits per pull request) |
//! | incidents | `GET …/issues?labels={label}&state=all&since={iso}&per_page=100` | entries with a `pull_request` key are pull requests and skipped; opened = `created_at`, resolved = `closed_at` |
//!
//! **Service**: a deployment's `payload.service` when it is a string (what
//! `parky-deploy`'s recorder writes), else the repository name.
//!
//! **Linking an incident to a deployment** (convention): a line `deployment: <id>` in the
//! issue body (case-insensitive, `#` before the id allowed), else the first
//! `deployment <digits>` / `deployment #<digits>` in the body. `<id>` is the GitHub
//! deployment id, or the tag name when releases are the deployments.
//!
//! **Compare limits** (GitHub docs, "Compare two commits"): without `per_page`/`page` the
//! list stops at 250 commits; with paging (used here, 100 per page) every commit comes, in
//! chronological order, the changed-file list only on page 1 (up to 300 files; not used).
//! A deployment whose head is *behind* its base (a rollback) ships no new commits. The first
//! deployment GitHub lists for a service has no base: what it shipped is unknown, so its
//! `commits` is empty.
//!
//! **How far back**: deployments are listed newest first until, for every service deployed in
//! the window, the last successful deployment before `since` and the one before that (its
//! compare base) are known. Pull requests are listed by update time until they are older
//! than the earliest deployment returned minus [`GitHubOptions::pull_request_lookback`]
//! (a pull request merged earlier cannot ship in a later deployment unless it waited that
//! long). Issues are asked for with `since` = that earliest deployment's time.
//!
//! # HTTP
//! - Headers on every request: `Accept: application/vnd.github+json`,
//!   `X-GitHub-Api-Version: 2022-11-28`, `Authorization: Bearer <token>`,
//!   `User-Agent: parky-dora/<version>`. The token is a [`SecretString`]: it is never in
//!   `Debug`, logs or errors, and is only sent to the configured base URL's origin.
//! - Pagination follows the `Link` header's `rel="next"` (100 per page). A next link to
//!   another origin (scheme, host, port) is refused with [`DoraError::GitHubReply`], so the
//!   token never goes elsewhere; a repeated URL or more than [`MAX_PAGES`] pages stops too.
//! - Rate limits (GitHub docs, "Rate limits for the REST API" and "Troubleshooting"): a 403
//!   or 429 with `retry-after` waits that long; with `x-ratelimit-remaining: 0` waits until
//!   `x-ratelimit-reset` (UTC epoch seconds) on the injected [`Clock`]; a 403/429 whose
//!   message mentions a (secondary) rate limit, or a bare 429, waits one minute. A success
//!   reply with `x-ratelimit-remaining: 0` makes the next request wait for the reset
//!   first. 408/425/5xx and network errors are retried with the backoff. All waits go
//!   through the [`RetryPolicy`] (attempts, backoff with jitter from a seeded generator,
//!   and a maximum single wait) and the injected [`Sleeper`]; past them the error is
//!   [`DoraError::GitHubRateLimited`] or [`DoraError::GitHub`] (an [`ApiError`] with the
//!   status and GitHub's `message`).
//! - Conditional requests: with [`GitHubSource::with_cache_dir`], each `200` reply that has
//!   an `ETag` is stored (ETag, body, next link) in a file named by the SHA-256 of the
//!   request URL (the URL holds no token); the next request for that URL sends
//!   `If-None-Match`, and a `304 Not Modified` reuses the stored body. GitHub does not count
//!   an authorized request answered with 304 against the primary rate limit.
//! - Malformed JSON or a reply without the documented fields is
//!   [`DoraError::GitHubReply`] naming the operation.
//! - Progress: [`GitHubSource::with_progress`] calls a function with a [`Progress`] after
//!   each request; the CLI can draw a bar from it. Nothing here writes to a terminal.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use parky_core::{
    ApiError, Backoff, Clock, Decision, ExposeSecret, Failure, GiveUpReason, Jitter, RateLimit,
    RetryPolicy, SecretString, SystemClock,
};
use rand::rngs::Xoshiro256PlusPlus;
use rand::SeedableRng;
use reqwest::header::{
    HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, ETAG, IF_NONE_MATCH, LINK, USER_AGENT,
};
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::memory::{check_query, select};
use super::{DeliverySource, Query};
use crate::error::DoraError;
use crate::model::{Change, DeliveryHistory, Deployment, DeploymentOutcome, Incident};

/// GitHub's public API.
pub const DEFAULT_BASE_URL: &str = "https://api.github.com";
/// The media type GitHub recommends in `Accept`.
pub const MEDIA_TYPE: &str = "application/vnd.github+json";
/// The REST API version sent as `X-GitHub-Api-Version`.
pub const API_VERSION: &str = "2022-11-28";
/// The `User-Agent` sent (GitHub rejects requests without one).
pub const USER_AGENT_VALUE: &str = concat!("parky-dora/", env!("CARGO_PKG_VERSION"));
/// Items per page asked for (GitHub's maximum).
pub const PER_PAGE: u32 = 100;
/// The most pages one listing follows.
pub const MAX_PAGES: usize = 10_000;
/// GitHub's advice when a rate-limit reply carries no header: "wait for at least one minute".
pub const SECONDARY_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);
const SERVICE: &str = "github";
const BODY_EXCERPT_CHARS: usize = 200;

// Waits between attempts go through `parky-core`'s `Sleeper` (injected so tests never
// sleep): `TokioSleeper` by default, `ManualSleeper` (moves a `ManualClock`) in tests.
pub use parky_core::{ManualSleeper, Sleeper, TokioSleeper};

/// Which part of the collection a [`Progress`] report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Listing deployments.
    Deployments,
    /// Reading deployment statuses.
    Statuses,
    /// Listing releases.
    Releases,
    /// Comparing consecutive deployments.
    Commits,
    /// Listing merged pull requests and their commits.
    PullRequests,
    /// Listing incident issues.
    Incidents,
}

/// How far a collection got; passed to the [`GitHubSource::with_progress`] callback after
/// every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The current stage.
    pub stage: Stage,
    /// Items of this stage done (pages for listings, deployments for statuses and commits).
    pub done: usize,
    /// Items of this stage in total, when known.
    pub total: Option<usize>,
    /// HTTP requests sent so far (retries included).
    pub requests: u64,
    /// Replies served from the on-disk cache after a 304 so far.
    pub not_modified: u64,
}

/// A progress callback.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// Where deployments come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeploymentSignal {
    /// GitHub deployments only.
    Deployments,
    /// Releases only.
    Releases,
    /// Deployments; releases when the repository has none for the environment (default).
    #[default]
    DeploymentsOrReleases,
}

/// Settings of a [`GitHubSource`]; [`Default`] gives the documented defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitHubOptions {
    /// Where deployments come from (default: deployments, else releases).
    pub signal: DeploymentSignal,
    /// The label that marks incident issues (default `incident`).
    pub incident_label: String,
    /// Whether pre-releases count as deployments in release mode (default `false`).
    pub include_prereleases: bool,
    /// How long before the earliest deployment returned merged pull requests are still
    /// read (default 90 days).
    pub pull_request_lookback: chrono::Duration,
}

impl Default for GitHubOptions {
    fn default() -> Self {
        Self {
            signal: DeploymentSignal::default(),
            incident_label: "incident".to_owned(),
            include_prereleases: false,
            pull_request_lookback: chrono::Duration::days(90),
        }
    }
}

/// A [`DeliverySource`] over GitHub's REST API; see the module docs.
pub struct GitHubSource {
    base: Url,
    owner: String,
    repo: String,
    token: SecretString,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
    retry: RetryPolicy,
    rng: Mutex<Xoshiro256PlusPlus>,
    cache: Option<PathBuf>,
    progress: Option<ProgressFn>,
    options: GitHubOptions,
    blocked_until: Mutex<Option<DateTime<Utc>>>,
    requests: AtomicU64,
    not_modified: AtomicU64,
}

impl fmt::Debug for GitHubSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHubSource")
            .field("base", &self.base.as_str())
            .field("owner", &self.owner)
            .field("repo", &self.repo)
            .field("token", &parky_core::REDACTED)
            .field("retry", &self.retry)
            .field("cache", &self.cache)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

fn config_error(field: &str, reason: impl Into<String>) -> DoraError {
    DoraError::InvalidConfig {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// The default retry policy: 5 attempts, full-jitter backoff from 1 s to 60 s, and waits of
/// up to 65 minutes (a primary rate-limit window is one hour).
#[must_use]
pub fn default_retry_policy() -> RetryPolicy {
    let backoff = Backoff::new(
        Duration::from_secs(1),
        Duration::from_secs(60),
        Jitter::Full,
    );
    match backoff.and_then(|b| RetryPolicy::new(5, b, Duration::from_secs(65 * 60))) {
        Ok(policy) => policy,
        // Unreachable: base <= cap and max_attempts >= 1 above. A single attempt is the
        // safe fallback for the types.
        Err(_) => fallback_policy(),
    }
}

fn fallback_policy() -> RetryPolicy {
    let backoff = Backoff::new(Duration::ZERO, Duration::ZERO, Jitter::None);
    match backoff.and_then(|b| RetryPolicy::new(1, b, Duration::ZERO)) {
        Ok(policy) => policy,
        Err(_) => fallback_policy(),
    }
}

impl GitHubSource {
    /// A source for `owner/repo` on `https://api.github.com`, with the system clock, tokio's
    /// timer, [`default_retry_policy`], no cache and a 30 s timeout per request.
    ///
    /// # Errors
    /// [`DoraError::InvalidConfig`] naming `owner`, `repo` or `token` when owner or repo is
    /// empty or contains `/`, or the token is empty or cannot be sent in a header;
    /// `http_client` when the TLS client cannot be built.
    pub fn new(owner: &str, repo: &str, token: SecretString) -> Result<Self, DoraError> {
        for (field, value) in [("owner", owner), ("repo", repo)] {
            if value.trim().is_empty() || value.contains('/') || value.contains('?') {
                return Err(config_error(
                    field,
                    format!("{value:?} must be a non-empty name without `/` or `?`"),
                ));
            }
        }
        let exposed = token.expose_secret();
        if exposed.trim().is_empty() || HeaderValue::from_str(&format!("Bearer {exposed}")).is_err()
        {
            return Err(config_error("token", "empty, or not a valid header value"));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| config_error("http_client", e.without_url().to_string()))?;
        let base =
            Url::parse(DEFAULT_BASE_URL).map_err(|e| config_error("base_url", e.to_string()))?;
        let seed = SystemClock.now().timestamp_nanos_opt().unwrap_or_default() as u64;
        Ok(Self {
            base,
            owner: owner.to_owned(),
            repo: repo.to_owned(),
            token,
            http,
            clock: Arc::new(SystemClock),
            sleeper: Arc::new(TokioSleeper),
            retry: default_retry_policy(),
            rng: Mutex::new(Xoshiro256PlusPlus::seed_from_u64(seed)),
            cache: None,
            progress: None,
            options: GitHubOptions::default(),
            blocked_until: Mutex::new(None),
            requests: AtomicU64::new(0),
            not_modified: AtomicU64::new(0),
        })
    }

    /// Talk to this API root instead (GitHub Enterprise Server `https://host/api/v3`, a test
    /// server).
    ///
    /// # Errors
    /// [`DoraError::InvalidConfig`] naming `base_url` when it is not an absolute http(s) URL.
    pub fn with_base_url(mut self, base_url: &str) -> Result<Self, DoraError> {
        let base = Url::parse(base_url)
            .map_err(|e| config_error("base_url", format!("{base_url:?}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(config_error(
                "base_url",
                format!("{base_url:?} is not an http(s) URL"),
            ));
        }
        self.base = base;
        Ok(self)
    }

    /// Use this reqwest client (its timeouts, proxy, TLS settings).
    #[must_use]
    pub fn with_http_client(mut self, http: reqwest::Client) -> Self {
        self.http = http;
        self
    }

    /// Resolve `retry-after` dates and `x-ratelimit-reset` against this clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Wait with this sleeper.
    #[must_use]
    pub fn with_sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    /// Retry with this policy.
    #[must_use]
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Seed the backoff jitter (default: from the system time).
    #[must_use]
    pub fn with_jitter_seed(self, seed: u64) -> Self {
        *self.rng.lock().unwrap_or_else(PoisonError::into_inner) =
            Xoshiro256PlusPlus::seed_from_u64(seed);
        self
    }

    /// Keep ETags and bodies in `dir` (created if missing) and send conditional requests.
    ///
    /// # Errors
    /// [`DoraError::Cache`] when the directory cannot be created.
    pub fn with_cache_dir(mut self, dir: impl Into<PathBuf>) -> Result<Self, DoraError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| DoraError::Cache {
            path: dir.clone(),
            reason: format!("cannot create the cache directory: {e}"),
        })?;
        self.cache = Some(dir);
        Ok(self)
    }

    /// Call `progress` after every request.
    #[must_use]
    pub fn with_progress(mut self, progress: ProgressFn) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Use these options.
    ///
    /// # Errors
    /// [`DoraError::InvalidConfig`] naming `incident_label` when it is empty or has a
    /// comma, or `pull_request_lookback` when negative.
    pub fn with_options(mut self, options: GitHubOptions) -> Result<Self, DoraError> {
        if options.incident_label.trim().is_empty() || options.incident_label.contains(',') {
            return Err(config_error(
                "incident_label",
                "must be one non-empty label (no comma)",
            ));
        }
        if options.pull_request_lookback < chrono::Duration::zero() {
            return Err(config_error(
                "pull_request_lookback",
                "must not be negative",
            ));
        }
        self.options = options;
        Ok(self)
    }

    /// HTTP requests sent so far (retries included, 304s included).
    #[must_use]
    pub fn requests_sent(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Replies answered `304 Not Modified` and served from the cache so far.
    #[must_use]
    pub fn not_modified(&self) -> u64 {
        self.not_modified.load(Ordering::Relaxed)
    }

    fn url(&self, tail: &[&str], query: &[(&str, &str)]) -> Result<Url, DoraError> {
        let mut url = self.base.clone();
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|()| config_error("base_url", "cannot be a base URL"))?;
            path.pop_if_empty();
            path.extend(["repos", self.owner.as_str(), self.repo.as_str()]);
            path.extend(tail);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    fn report(&self, stage: Stage, done: usize, total: Option<usize>) {
        if let Some(progress) = &self.progress {
            progress(&Progress {
                stage,
                done,
                total,
                requests: self.requests_sent(),
                not_modified: self.not_modified(),
            });
        }
    }

    fn api_error(&self, operation: &str, error: ApiError) -> DoraError {
        DoraError::GitHub {
            operation: operation.to_owned(),
            source: error.redacted(&[&self.token]),
        }
    }

    /// Sleep until the primary rate limit resets, if a reply said it was used up.
    async fn wait_for_reset(&self, operation: &str) -> Result<(), DoraError> {
        let until = *self
            .blocked_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(until) = until else { return Ok(()) };
        let wait = (until - self.clock.now())
            .to_std()
            .unwrap_or(Duration::ZERO);
        if wait > self.retry.max_wait() {
            return Err(DoraError::GitHubRateLimited {
                operation: operation.to_owned(),
                status: 200,
                message: format!(
                    "x-ratelimit-remaining is 0 until {}",
                    until.to_rfc3339_opts(SecondsFormat::Secs, true)
                ),
                retry_after: Some(wait),
            });
        }
        if !wait.is_zero() {
            tracing::info!(
                wait_s = wait.as_secs(),
                "GitHub primary rate limit used up; waiting for the reset"
            );
            self.sleeper.sleep(wait).await;
        }
        *self
            .blocked_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
        Ok(())
    }

    /// GET `url` (conditional when cached), retried by the policy; the body and next link.
    async fn get(&self, operation: &str, url: &Url) -> Result<Page, DoraError> {
        let cached = self.cache_read(url);
        let mut attempt: u32 = 0;
        let mut previous_delay = None;
        loop {
            attempt = attempt.saturating_add(1);
            self.wait_for_reset(operation).await?;
            let outcome = self.send(operation, url, cached.as_ref()).await?;
            let (failure, error) = match outcome {
                Sent::Page(page) => return Ok(page),
                Sent::Failed {
                    error,
                    retryable,
                    wait,
                } => (
                    Failure::new(attempt, retryable)
                        .with_retry_after(wait)
                        .with_previous_delay(previous_delay),
                    error,
                ),
            };
            let decision = {
                let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
                self.retry.decide(&failure, &mut *rng)
            };
            match decision {
                Decision::Retry { after, source } => {
                    tracing::info!(
                        operation,
                        attempt,
                        wait_ms = after.as_millis() as u64,
                        ?source,
                        error = %error,
                        "GitHub request failed; retrying"
                    );
                    self.sleeper.sleep(after).await;
                    previous_delay = Some(after);
                }
                Decision::GiveUp(reason) => {
                    if let GiveUpReason::RetryAfterTooLong { .. } = reason {
                        tracing::warn!(
                            operation,
                            ?reason,
                            "GitHub asks for a longer wait than the retry policy allows"
                        );
                    }
                    return Err(error);
                }
            }
        }
    }

    /// One request.
    async fn send(
        &self,
        operation: &str,
        url: &Url,
        cached: Option<&CacheEntry>,
    ) -> Result<Sent, DoraError> {
        tracing::debug!(
            operation,
            path = url.path(),
            query = url.query().unwrap_or(""),
            "GitHub GET"
        );
        // Checked in `new`: the token makes a valid header value.
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", self.token.expose_secret()))
            .map_err(|_| config_error("token", "not a valid header value"))?;
        auth.set_sensitive(true);
        let mut request = self
            .http
            .get(url.clone())
            .header(ACCEPT, MEDIA_TYPE)
            .header("X-GitHub-Api-Version", API_VERSION)
            .header(AUTHORIZATION, auth)
            .header(USER_AGENT, USER_AGENT_VALUE);
        if let Some(entry) = cached {
            request = request.header(IF_NONE_MATCH, entry.etag.as_str());
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let network = |e: reqwest::Error| {
            let error = if e.is_timeout() {
                ApiError::timeout(SERVICE)
            } else {
                ApiError::network(SERVICE, e.without_url().to_string())
            };
            Sent::Failed {
                error: self.api_error(operation, error),
                retryable: true,
                wait: None,
            }
        };
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return Ok(network(e)),
        };
        let status = response.status();
        let headers = response.headers().clone();
        let body = match response.bytes().await {
            Ok(body) => body.to_vec(),
            Err(e) => return Ok(network(e)),
        };
        let now = self.clock.now();
        let limit = RateLimit::from_headers(
            headers
                .iter()
                .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str(), v))),
        )
        .unwrap_or_default();
        if status.is_success() || status == StatusCode::NOT_MODIFIED {
            if limit.is_exhausted() {
                *self
                    .blocked_until
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = limit.reset_at;
            }
            let link_next = self.next_link(operation, &headers)?;
            if status == StatusCode::NOT_MODIFIED {
                let Some(entry) = cached else {
                    return Err(DoraError::GitHubReply {
                        operation: operation.to_owned(),
                        reason: "304 Not Modified to a request that was not conditional".to_owned(),
                    });
                };
                self.not_modified.fetch_add(1, Ordering::Relaxed);
                let next = match link_next {
                    Some(next) => Some(next),
                    None => entry
                        .next
                        .as_deref()
                        .map(|n| self.same_origin(operation, n))
                        .transpose()?,
                };
                return Ok(Sent::Page(Page {
                    body: entry.body.clone().into_bytes(),
                    next,
                }));
            }
            if let Some(etag) = headers.get(ETAG).and_then(|v| v.to_str().ok()) {
                self.cache_write(url, etag, &body, link_next.as_ref())?;
            }
            return Ok(Sent::Page(Page {
                body,
                next: link_next,
            }));
        }
        let class = classify(status.as_u16(), &limit, &body, now);
        let message = parky_core::redact(&class.message, &[&self.token]);
        tracing::debug!(
            status = status.as_u16(),
            rate_limited = class.rate_limited,
            "GitHub error reply"
        );
        let error = if class.rate_limited {
            DoraError::GitHubRateLimited {
                operation: operation.to_owned(),
                status: status.as_u16(),
                message,
                retry_after: class.wait,
            }
        } else {
            self.api_error(
                operation,
                ApiError::status(SERVICE, status.as_u16(), message).with_retry_after(class.wait),
            )
        };
        Ok(Sent::Failed {
            error,
            retryable: class.retryable,
            wait: class.wait,
        })
    }

    fn same_origin(&self, operation: &str, next: &str) -> Result<Url, DoraError> {
        let url = Url::parse(next).map_err(|e| DoraError::GitHubReply {
            operation: operation.to_owned(),
            reason: format!("Link rel=\"next\" is not a URL: {e}"),
        })?;
        if url.origin() != self.base.origin() {
            return Err(DoraError::GitHubReply {
                operation: operation.to_owned(),
                reason: format!(
                    "Link rel=\"next\" points to another origin ({}), not followed",
                    url.origin().ascii_serialization()
                ),
            });
        }
        Ok(url)
    }

    fn next_link(&self, operation: &str, headers: &HeaderMap) -> Result<Option<Url>, DoraError> {
        for value in headers.get_all(LINK) {
            let Ok(value) = value.to_str() else { continue };
            if let Some(next) = parky_core::next_link(value) {
                return self.same_origin(operation, next).map(Some);
            }
        }
        Ok(None)
    }

    fn cache_path(&self, url: &Url) -> Option<PathBuf> {
        let dir = self.cache.as_ref()?;
        let digest = Sha256::digest(url.as_str().as_bytes());
        let name: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        Some(dir.join(format!("{name}.json")))
    }

    fn cache_read(&self, url: &Url) -> Option<CacheEntry> {
        let path = self.cache_path(url)?;
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cache entry unreadable; ignored");
                return None;
            }
        };
        match serde_json::from_slice::<CacheEntry>(&bytes) {
            Ok(entry) if entry.url == url.as_str() => Some(entry),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cache entry corrupt; ignored");
                None
            }
        }
    }

    fn cache_write(
        &self,
        url: &Url,
        etag: &str,
        body: &[u8],
        next: Option<&Url>,
    ) -> Result<(), DoraError> {
        let Some(path) = self.cache_path(url) else {
            return Ok(());
        };
        let Ok(body) = std::str::from_utf8(body) else {
            return Ok(());
        };
        let entry = CacheEntry {
            url: url.as_str().to_owned(),
            etag: etag.to_owned(),
            next: next.map(|n| n.as_str().to_owned()),
            body: body.to_owned(),
        };
        let cache_error = |path: &Path, e: &dyn fmt::Display| DoraError::Cache {
            path: path.to_owned(),
            reason: e.to_string(),
        };
        let text = serde_json::to_vec(&entry).map_err(|e| cache_error(&path, &e))?;
        let temp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&temp, text).map_err(|e| cache_error(&temp, &e))?;
        std::fs::rename(&temp, &path).map_err(|e| cache_error(&path, &e))?;
        Ok(())
    }

    /// Every item of a paginated JSON-array listing, page by page; `stop` sees each page's
    /// items and ends the listing early by returning `true`.
    async fn list<T: DeserializeOwned>(
        &self,
        operation: &str,
        stage: Stage,
        first: Url,
        mut stop: impl FnMut(&[T]) -> bool,
    ) -> Result<Vec<T>, DoraError> {
        let mut items = Vec::new();
        let mut next = Some(first);
        let mut seen = HashSet::new();
        let mut pages = 0;
        while let Some(url) = next.take() {
            if !seen.insert(url.as_str().to_owned()) || pages >= MAX_PAGES {
                tracing::warn!(
                    operation,
                    pages,
                    "pagination stopped: repeated URL or page limit"
                );
                break;
            }
            let page = self.get(operation, &url).await?;
            pages += 1;
            let parsed: Vec<T> = parse(operation, pages, &page.body)?;
            let done = stop(&parsed);
            items.extend(parsed);
            self.report(stage, pages, None);
            if !done {
                next = page.next;
            }
        }
        Ok(items)
    }

    async fn compare(&self, base: &str, head: &str) -> Result<Vec<ApiCommit>, DoraError> {
        let operation = format!("compare {base}...{head} in {}/{}", self.owner, self.repo);
        let basehead = format!("{base}...{head}");
        let per_page = PER_PAGE.to_string();
        let mut next = Some(self.url(&["compare", &basehead], &[("per_page", &per_page)])?);
        let mut commits = Vec::new();
        let mut seen = HashSet::new();
        let mut pages = 0;
        let mut total = None;
        while let Some(url) = next.take() {
            if !seen.insert(url.as_str().to_owned()) || pages >= MAX_PAGES {
                break;
            }
            let page = self.get(&operation, &url).await?;
            pages += 1;
            let parsed: ApiCompare = parse(&operation, pages, &page.body)?;
            total = total.or(parsed.total_commits);
            commits.extend(parsed.commits);
            next = page.next;
        }
        if let Some(total) = total {
            if (commits.len() as u64) < total {
                tracing::warn!(
                    operation,
                    total,
                    read = commits.len(),
                    "compare returned fewer commits than total_commits"
                );
            }
        }
        Ok(commits)
    }

    async fn statuses(
        &self,
        id: u64,
    ) -> Result<(DeploymentOutcome, Option<DateTime<Utc>>), DoraError> {
        let operation = format!(
            "list statuses of deployment {id} in {}/{}",
            self.owner, self.repo
        );
        let id_text = id.to_string();
        let per_page = PER_PAGE.to_string();
        let url = self.url(
            &["deployments", &id_text, "statuses"],
            &[("per_page", &per_page)],
        )?;
        let statuses: Vec<ApiStatus> = self
            .list(&operation, Stage::Statuses, url, |_| false)
            .await?;
        Ok(outcome_of(&statuses))
    }

    /// The deployments to return and whether the repository listed any at all.
    async fn deployment_records(&self, query: &Query) -> Result<(Vec<Record>, bool), DoraError> {
        let operation = format!("list deployments of {}/{}", self.owner, self.repo);
        let per_page = PER_PAGE.to_string();
        let url = self.url(
            &["deployments"],
            &[("environment", &query.environment), ("per_page", &per_page)],
        )?;
        // Stop once, for every service deployed in the window, two deployments created
        // before `since` are known (the anchor candidates and a compare base); the
        // statuses below may need more, fetched by walking further pages in a second pass.
        let mut listed: Vec<ApiDeployment> = Vec::new();
        let mut any_listed = false;
        let mut next = Some(url);
        let mut seen = HashSet::new();
        let mut pages = 0;
        let mut outcomes: HashMap<u64, (DeploymentOutcome, Option<DateTime<Utc>>)> = HashMap::new();
        while let Some(url) = next.take() {
            if !seen.insert(url.as_str().to_owned()) || pages >= MAX_PAGES {
                break;
            }
            let page = self.get(&operation, &url).await?;
            pages += 1;
            let parsed: Vec<ApiDeployment> = parse(&operation, pages, &page.body)?;
            any_listed |= !parsed.is_empty();
            listed.extend(parsed);
            self.report(Stage::Deployments, pages, None);
            if self.chains_complete(&listed, query, &mut outcomes).await? {
                break;
            }
            next = page.next;
        }
        let mut by_service: BTreeMap<String, Vec<ApiDeployment>> = BTreeMap::new();
        for deployment in listed {
            if deployment.environment != query.environment || deployment.created_at >= query.until {
                continue;
            }
            by_service
                .entry(self.service_of(&deployment))
                .or_default()
                .push(deployment);
        }
        // Services deployed before the window only are not needed.
        by_service.retain(|_, list| list.iter().any(|d| d.created_at >= query.since));
        let mut records = Vec::new();
        let total: usize = by_service.values().map(Vec::len).sum();
        let mut done = 0;
        for (service, mut list) in by_service {
            list.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
            let keep_from = anchor_index(&list, query.since, &outcomes);
            for (index, deployment) in list.iter().enumerate().skip(keep_from) {
                let (outcome, finished) = match outcomes.get(&deployment.id) {
                    Some(known) => *known,
                    None => self.statuses(deployment.id).await?,
                };
                done += 1;
                self.report(Stage::Statuses, done, Some(total));
                let base = index
                    .checked_sub(1)
                    .and_then(|p| list.get(p))
                    .map(|p| p.sha.clone());
                records.push(Record {
                    id: deployment.id.to_string(),
                    service: service.clone(),
                    environment: deployment.environment.clone(),
                    head: deployment.sha.clone(),
                    commit: deployment.sha.clone(),
                    base,
                    at: finished.unwrap_or(deployment.created_at),
                    outcome,
                });
            }
        }
        Ok((records, any_listed))
    }

    fn service_of(&self, deployment: &ApiDeployment) -> String {
        deployment
            .payload
            .get("service")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .map_or_else(|| self.repo.clone(), str::to_owned)
    }

    /// Whether every service deployed in the window has its chain before `since` listed:
    /// walking back from `since`, a successful deployment and one more before it (fetching
    /// statuses of the deployments before `since` as needed).
    async fn chains_complete(
        &self,
        listed: &[ApiDeployment],
        query: &Query,
        outcomes: &mut HashMap<u64, (DeploymentOutcome, Option<DateTime<Utc>>)>,
    ) -> Result<bool, DoraError> {
        let mut by_service: BTreeMap<String, Vec<&ApiDeployment>> = BTreeMap::new();
        for deployment in listed {
            if deployment.environment == query.environment && deployment.created_at < query.until {
                by_service
                    .entry(self.service_of(deployment))
                    .or_default()
                    .push(deployment);
            }
        }
        for list in by_service.values_mut() {
            if !list.iter().any(|d| d.created_at >= query.since) {
                continue;
            }
            list.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
            let mut anchored = false;
            let mut complete = false;
            for deployment in list.iter().filter(|d| d.created_at < query.since) {
                if anchored {
                    complete = true;
                    break;
                }
                let known = match outcomes.get(&deployment.id) {
                    Some(known) => *known,
                    None => {
                        let fetched = self.statuses(deployment.id).await?;
                        outcomes.insert(deployment.id, fetched);
                        fetched
                    }
                };
                anchored = known.0 == DeploymentOutcome::Success;
            }
            if !complete {
                return Ok(false);
            }
        }
        Ok(true)
    }

    async fn release_records(&self, query: &Query) -> Result<Vec<Record>, DoraError> {
        let operation = format!("list releases of {}/{}", self.owner, self.repo);
        let per_page = PER_PAGE.to_string();
        let url = self.url(&["releases"], &[("per_page", &per_page)])?;
        let since = query.since;
        let mut before_since = 0usize;
        let include_pre = self.options.include_prereleases;
        let releases: Vec<ApiRelease> = self
            .list(&operation, Stage::Releases, url, |page: &[ApiRelease]| {
                before_since += page
                    .iter()
                    .filter(|r| !r.draft && (include_pre || !r.prerelease))
                    .filter(|r| r.published_at.is_some_and(|at| at < since))
                    .count();
                // The anchor (the last release before `since`) and its compare base.
                before_since >= 2
            })
            .await?;
        let mut list: Vec<(DateTime<Utc>, String)> = releases
            .into_iter()
            .filter(|r| !r.draft && (include_pre || !r.prerelease))
            .filter_map(|r| r.published_at.map(|at| (at, r.tag_name)))
            .filter(|(at, _)| *at < query.until)
            .collect();
        list.sort();
        let keep_from = list
            .partition_point(|(at, _)| *at < query.since)
            .saturating_sub(1);
        Ok(list
            .iter()
            .enumerate()
            .skip(keep_from)
            .map(|(index, (at, tag))| Record {
                id: tag.clone(),
                service: self.repo.clone(),
                environment: query.environment.clone(),
                head: tag.clone(),
                commit: tag.clone(),
                base: index
                    .checked_sub(1)
                    .and_then(|p| list.get(p))
                    .map(|(_, t)| t.clone()),
                at: *at,
                outcome: DeploymentOutcome::Success,
            })
            .collect())
    }

    async fn pull_requests(
        &self,
        floor: DateTime<Utc>,
        shipped: &HashMap<String, &ApiCommit>,
    ) -> Result<HashMap<String, (u64, DateTime<Utc>)>, DoraError> {
        let operation = format!("list pull requests of {}/{}", self.owner, self.repo);
        let per_page = PER_PAGE.to_string();
        let url = self.url(
            &["pulls"],
            &[
                ("state", "closed"),
                ("sort", "updated"),
                ("direction", "desc"),
                ("per_page", &per_page),
            ],
        )?;
        let pulls: Vec<ApiPull> = self
            .list(
                &operation,
                Stage::PullRequests,
                url,
                |page: &[ApiPull]| page.last().is_some_and(|p| p.updated_at < floor),
            )
            .await?;
        let mut result = HashMap::new();
        let merged: Vec<&ApiPull> = pulls.iter().filter(|p| p.merged_at.is_some()).collect();
        for (done, pull) in merged.iter().enumerate() {
            let (Some(merged_at), Some(sha)) = (pull.merged_at, pull.merge_commit_sha.as_ref())
            else {
                continue;
            };
            let Some(merge) = shipped.get(sha.as_str()) else {
                continue;
            };
            result.insert(sha.clone(), (pull.number, merged_at));
            if merge.parents.len() < 2 {
                continue;
            }
            let number = pull.number.to_string();
            let operation = format!(
                "list commits of pull request #{number} in {}/{}",
                self.owner, self.repo
            );
            let url = self.url(&["pulls", &number, "commits"], &[("per_page", &per_page)])?;
            let commits: Vec<ApiCommit> = self
                .list(&operation, Stage::PullRequests, url, |_| false)
                .await?;
            for commit in commits {
                result.entry(commit.sha).or_insert((pull.number, merged_at));
            }
            self.report(Stage::PullRequests, done + 1, Some(merged.len()));
        }
        Ok(result)
    }

    async fn incidents(&self, floor: DateTime<Utc>) -> Result<Vec<Incident>, DoraError> {
        let operation = format!("list incident issues of {}/{}", self.owner, self.repo);
        let per_page = PER_PAGE.to_string();
        let since = floor.to_rfc3339_opts(SecondsFormat::Secs, true);
        let url = self.url(
            &["issues"],
            &[
                ("labels", self.options.incident_label.as_str()),
                ("state", "all"),
                ("since", &since),
                ("per_page", &per_page),
            ],
        )?;
        let issues: Vec<ApiIssue> = self
            .list(&operation, Stage::Incidents, url, |_| false)
            .await?;
        Ok(issues
            .into_iter()
            .filter(|issue| issue.pull_request.is_none())
            .map(|issue| Incident {
                id: issue.number.to_string(),
                opened_at: issue.created_at,
                resolved_at: issue.closed_at,
                deployment: issue.body.as_deref().and_then(linked_deployment),
            })
            .collect())
    }

    /// Collect the history around `query` (before [`select`]).
    async fn gather(&self, query: &Query) -> Result<DeliveryHistory, DoraError> {
        let mut release_mode = self.options.signal == DeploymentSignal::Releases;
        let mut records = Vec::new();
        if !release_mode {
            let (found, any_listed) = self.deployment_records(query).await?;
            records = found;
            release_mode =
                !any_listed && self.options.signal == DeploymentSignal::DeploymentsOrReleases;
        }
        if release_mode {
            records = self.release_records(query).await?;
        }

        // What each deployment newly ships.
        let mut compared: Vec<Vec<ApiCommit>> = Vec::new();
        for (done, record) in records.iter().enumerate() {
            let commits = match &record.base {
                Some(base) if *base == record.head => Vec::new(),
                Some(base) => self.compare(base, &record.head).await?,
                None => Vec::new(),
            };
            compared.push(commits);
            self.report(Stage::Commits, done + 1, Some(records.len()));
        }
        let shipped: HashMap<String, &ApiCommit> = compared
            .iter()
            .flatten()
            .map(|c| (c.sha.clone(), c))
            .collect();

        let floor = records
            .iter()
            .map(|r| r.at)
            .min()
            .unwrap_or(query.since)
            .min(query.since);
        let pr_floor = floor - self.options.pull_request_lookback;
        let pull_requests = if shipped.is_empty() {
            HashMap::new()
        } else {
            self.pull_requests(pr_floor, &shipped).await?
        };
        let incidents = self.incidents(floor).await?;

        let mut changes = Vec::new();
        let mut seen = HashSet::new();
        for commit in compared.iter().flatten() {
            if !seen.insert(commit.sha.as_str()) {
                continue;
            }
            let committed_at = commit.commit.committer.as_ref().map(|s| s.date);
            let authored_at = commit.commit.author.as_ref().map(|s| s.date);
            let (Some(committed_at), Some(authored_at)) =
                (committed_at.or(authored_at), authored_at.or(committed_at))
            else {
                tracing::warn!(commit = %commit.sha, "commit without author or committer date; skipped");
                continue;
            };
            let pr = pull_requests.get(&commit.sha).copied();
            changes.push(Change {
                commit: commit.sha.clone(),
                authored_at,
                committed_at,
                pull_request: pr.map(|(n, _)| n),
                merged_at: pr.map(|(_, at)| at),
            });
        }
        let linked: HashSet<&str> = incidents
            .iter()
            .filter_map(|i| i.deployment.as_deref())
            .collect();
        let deployments = records
            .iter()
            .zip(&compared)
            .map(|(record, commits)| Deployment {
                id: record.id.clone(),
                service: record.service.clone(),
                environment: record.environment.clone(),
                commit: record.commit.clone(),
                at: record.at,
                outcome: if release_mode && linked.contains(record.id.as_str()) {
                    DeploymentOutcome::Failure
                } else {
                    record.outcome
                },
                commits: commits.iter().map(|c| c.sha.clone()).collect(),
            })
            .collect();
        Ok(DeliveryHistory {
            deployments,
            changes,
            incidents,
        })
    }
}

#[async_trait]
impl DeliverySource for GitHubSource {
    async fn collect(&self, query: &Query) -> Result<DeliveryHistory, DoraError> {
        check_query(query)?;
        let history = self.gather(query).await?;
        select(&history, query)
    }
}

/// A deployment (or release) with what is needed to compare it.
#[derive(Debug, Clone)]
struct Record {
    id: String,
    service: String,
    environment: String,
    head: String,
    commit: String,
    base: Option<String>,
    at: DateTime<Utc>,
    outcome: DeploymentOutcome,
}

/// The index from which a service's deployments (oldest first) are returned: the last
/// successful one created before `since`, or the oldest listed.
fn anchor_index(
    list: &[ApiDeployment],
    since: DateTime<Utc>,
    outcomes: &HashMap<u64, (DeploymentOutcome, Option<DateTime<Utc>>)>,
) -> usize {
    let before = list.partition_point(|d| d.created_at < since);
    (0..before)
        .rev()
        .find(|&i| {
            list.get(i)
                .and_then(|d| outcomes.get(&d.id))
                .is_some_and(|(o, _)| *o == DeploymentOutcome::Success)
        })
        .unwrap_or(0)
}

/// The outcome and finishing time from a deployment's statuses (see the module docs).
fn outcome_of(statuses: &[ApiStatus]) -> (DeploymentOutcome, Option<DateTime<Utc>>) {
    let latest = statuses
        .iter()
        .max_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    let Some(latest) = latest else {
        return (DeploymentOutcome::Pending, None);
    };
    let outcome = match latest.state.as_str() {
        "success" | "inactive" => DeploymentOutcome::Success,
        "failure" | "error" => DeploymentOutcome::Failure,
        _ => DeploymentOutcome::Pending,
    };
    // The finishing time is the first terminal status (an `inactive` added later, when the
    // next deployment replaced this one, does not move it).
    let finished = statuses
        .iter()
        .filter(|s| matches!(s.state.as_str(), "success" | "failure" | "error"))
        .min_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)))
        .map(|s| s.created_at);
    (outcome, finished)
}

/// How a failed reply should be handled.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Classified {
    message: String,
    rate_limited: bool,
    retryable: bool,
    wait: Option<Duration>,
}

/// Classify a non-2xx, non-304 reply (see the module docs, "Rate limits").
fn classify(status: u16, limit: &RateLimit, body: &[u8], now: DateTime<Utc>) -> Classified {
    let parsed = serde_json::from_slice::<Value>(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| v.get("message"))
        .and_then(Value::as_str)
        .filter(|m| !m.trim().is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let excerpt: String = String::from_utf8_lossy(body)
                .trim()
                .chars()
                .take(BODY_EXCERPT_CHARS)
                .collect();
            if excerpt.is_empty() {
                StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("error")
                    .to_owned()
            } else {
                excerpt
            }
        });
    if matches!(status, 403 | 429) {
        let mentions_limit = message.to_ascii_lowercase().contains("rate limit");
        if limit.retry_after.is_some() || limit.is_exhausted() || mentions_limit || status == 429 {
            let wait = limit.wait(now).unwrap_or(SECONDARY_RATE_LIMIT_WAIT);
            return Classified {
                message,
                rate_limited: true,
                retryable: true,
                wait: Some(wait),
            };
        }
    }
    Classified {
        retryable: parky_core::is_retryable_status(status),
        wait: limit.retry_after.map(|r| r.wait_from(now)),
        rate_limited: false,
        message,
    }
}

/// The deployment an incident issue's body names (see the module docs).
fn linked_deployment(body: &str) -> Option<String> {
    for line in body.lines() {
        let line = line.trim();
        let Some(prefix) = line.get(..11) else {
            continue;
        };
        if prefix.eq_ignore_ascii_case("deployment:") {
            let id = line[11..].trim().trim_start_matches('#');
            let id = id.split_whitespace().next().unwrap_or("");
            if !id.is_empty() {
                return Some(id.to_owned());
            }
        }
    }
    let lower = body.to_ascii_lowercase();
    let mut from = 0;
    while let Some(pos) = lower[from..].find("deployment") {
        let after = &lower[from + pos + "deployment".len()..];
        let after = after
            .strip_prefix(' ')
            .map(|a| a.strip_prefix('#').unwrap_or(a));
        if let Some(after) = after {
            let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
            let ends_word = after[digits.len()..]
                .chars()
                .next()
                .is_none_or(|c| !c.is_ascii_alphanumeric());
            if !digits.is_empty() && ends_word {
                return Some(digits);
            }
        }
        from += pos + "deployment".len();
    }
    None
}

fn parse<T: DeserializeOwned>(operation: &str, page: usize, body: &[u8]) -> Result<T, DoraError> {
    serde_json::from_slice(body).map_err(|e| DoraError::GitHubReply {
        operation: operation.to_owned(),
        reason: format!("page {page}: {e}"),
    })
}

/// A reply's body and next page.
#[derive(Debug)]
struct Page {
    body: Vec<u8>,
    next: Option<Url>,
}

/// What one request gave.
#[derive(Debug)]
enum Sent {
    Page(Page),
    Failed {
        error: DoraError,
        retryable: bool,
        wait: Option<Duration>,
    },
}

/// One cached reply, as stored on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CacheEntry {
    url: String,
    etag: String,
    #[serde(default)]
    next: Option<String>,
    body: String,
}

#[derive(Debug, Deserialize)]
struct ApiDeployment {
    id: u64,
    sha: String,
    environment: String,
    created_at: DateTime<Utc>,
    #[serde(default)]
    payload: Value,
}

#[derive(Debug, Deserialize)]
struct ApiStatus {
    id: u64,
    state: String,
    created_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
struct ApiRelease {
    tag_name: String,
    #[serde(default)]
    draft: bool,
    #[serde(default)]
    prerelease: bool,
    published_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
struct ApiCompare {
    total_commits: Option<u64>,
    commits: Vec<ApiCommit>,
}

#[derive(Debug, Deserialize)]
struct ApiCommit {
    sha: String,
    commit: ApiCommitDetail,
    #[serde(default)]
    parents: Vec<Value>,
}

#[derive(Debug, Deserialize)]
struct ApiCommitDetail {
    author: Option<ApiSignature>,
    committer: Option<ApiSignature>,
}

#[derive(Debug, Deserialize)]
struct ApiSignature {
    date: DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
struct ApiPull {
    number: u64,
    merged_at: Option<DateTime<Utc>>,
    merge_commit_sha: Option<String>,
    updated_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
struct ApiIssue {
    number: u64,
    created_at: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
    body: Option<String>,
    pull_request: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// The shared `Link` parser, owned as the link is used here.
    fn parse_link_next(value: &str) -> Option<String> {
        parky_core::next_link(value).map(str::to_owned)
    }

    #[test]
    fn link_header() {
        // GitHub docs, "Using pagination in the REST API".
        let value = "<https://api.github.com/repositories/1300192/issues?page=2>; rel=\"prev\", \
<https://api.github.com/repositories/1300192/issues?page=4>; rel=\"next\", \
<https://api.github.com/repositories/1300192/issues?page=515>; rel=\"last\", \
<https://api.github.com/repositories/1300192/issues?page=1>; rel=\"first\"";
        assert_eq!(
            parse_link_next(value).as_deref(),
            Some("https://api.github.com/repositories/1300192/issues?page=4")
        );
        assert_eq!(parse_link_next("<https://x/?page=1>; rel=\"first\""), None);
        assert_eq!(parse_link_next("garbage <"), None);
        assert_eq!(parse_link_next(""), None);
    }

    #[test]
    fn incident_links() {
        assert_eq!(
            linked_deployment("Checkout down\n\nDeployment: 1234\n").as_deref(),
            Some("1234")
        );
        assert_eq!(
            linked_deployment("deployment: #v1.2.3 (canary)").as_deref(),
            Some("v1.2.3")
        );
        assert_eq!(
            linked_deployment("Caused by Deployment 42.").as_deref(),
            Some("42")
        );
        assert_eq!(
            linked_deployment("after deployment #77, errors").as_deref(),
            Some("77")
        );
        assert_eq!(linked_deployment("the deployment failed"), None);
        assert_eq!(linked_deployment("deployment 12abc"), None);
        assert_eq!(linked_deployment("ü deployment:"), None);
    }

    #[test]
    fn outcomes() {
        let at = |m| Utc.with_ymd_and_hms(2024, 1, 1, 0, m, 0).single().unwrap();
        let s = |id, state: &str, m| ApiStatus {
            id,
            state: state.to_owned(),
            created_at: at(m),
        };
        assert_eq!(outcome_of(&[]), (DeploymentOutcome::Pending, None));
        assert_eq!(
            outcome_of(&[
                s(3, "inactive", 9),
                s(2, "success", 5),
                s(1, "in_progress", 1)
            ]),
            (DeploymentOutcome::Success, Some(at(5)))
        );
        assert_eq!(
            outcome_of(&[s(2, "error", 4), s(1, "pending", 1)]),
            (DeploymentOutcome::Failure, Some(at(4)))
        );
        assert_eq!(
            outcome_of(&[s(1, "queued", 1)]),
            (DeploymentOutcome::Pending, None)
        );
    }

    #[test]
    fn classification() {
        let now = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).single().unwrap();
        let limit =
            |pairs: &[(&str, &str)]| RateLimit::from_headers(pairs.iter().copied()).unwrap();
        // Primary: remaining 0, reset 90 s ahead.
        let reset = (now.timestamp() + 90).to_string();
        let c = classify(
            403,
            &limit(&[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", &reset),
            ]),
            br#"{"message":"API rate limit exceeded for user ID 1."}"#,
            now,
        );
        assert!(c.rate_limited && c.retryable);
        assert_eq!(c.wait, Some(Duration::from_secs(90)));
        // Secondary without headers: one minute.
        let c = classify(
            403,
            &RateLimit::default(),
            br#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}"#,
            now,
        );
        assert_eq!(c.wait, Some(SECONDARY_RATE_LIMIT_WAIT));
        // A plain 403 is permanent; a 404 too; a 502 is retryable without a wait.
        let c = classify(
            403,
            &RateLimit::default(),
            br#"{"message":"Resource not accessible by integration"}"#,
            now,
        );
        assert!(!c.rate_limited && !c.retryable);
        assert_eq!(c.message, "Resource not accessible by integration");
        let c = classify(502, &RateLimit::default(), b"", now);
        assert!(c.retryable && c.wait.is_none());
        assert_eq!(c.message, "Bad Gateway");
    }
}
