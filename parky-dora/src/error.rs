//! [`DoraError`]: the one error type of the crate.

use std::path::PathBuf;

use parky_core::ApiError;

/// Everything that can go wrong collecting, computing or rendering the four keys.
///
/// Variants carry the context a person needs: the field, file, line, command or HTTP
/// operation. Secrets (the GitHub token) never appear in them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DoraError {
    /// A setting is invalid; `field` names it.
    #[error("invalid {field}: {reason}")]
    InvalidConfig {
        /// The setting, e.g. `since`, `tz`, `year`, `tag_pattern`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A record of the delivery history is inconsistent (e.g. a duplicate deployment id).
    #[error("invalid history: {reason}")]
    InvalidHistory {
        /// What is wrong.
        reason: String,
    },
    /// Running `git` failed.
    #[error("git {command} in {}: {reason}", repo.display())]
    Git {
        /// The repository.
        repo: PathBuf,
        /// The git subcommand and arguments run.
        command: String,
        /// What went wrong (exit status and the tail of stderr, or the spawn error).
        reason: String,
    },
    /// `git` printed something this crate cannot read.
    #[error("git {command} in {}, output line {line}: {reason}", repo.display())]
    GitOutput {
        /// The repository.
        repo: PathBuf,
        /// The git subcommand.
        command: String,
        /// 1-based line of the output.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A GitHub API call failed.
    #[error("GitHub {operation}: {source}")]
    GitHub {
        /// What was being done, e.g. `list deployments of owner/repo`.
        operation: String,
        /// The typed API error (status, GitHub's message, retry hint), token redacted.
        #[source]
        source: ApiError,
    },
    /// A GitHub reply could not be understood.
    #[error("GitHub {operation}: malformed reply: {reason}")]
    GitHubReply {
        /// What was being done.
        operation: String,
        /// What is wrong with the body or headers.
        reason: String,
    },
    /// The on-disk HTTP cache could not be read or written.
    #[error("cache {}: {reason}", path.display())]
    Cache {
        /// The cache file or directory.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// GitHub's rate limit (primary or secondary) lasted longer than the retry policy
    /// allows, or kept refusing until its attempts ran out.
    #[error("GitHub {operation}: rate limited (HTTP {status}): {message}{}", retry_after.map(|w| format!(" (retry after {}s)", w.as_secs())).unwrap_or_default())]
    GitHubRateLimited {
        /// What was being done.
        operation: String,
        /// 403 or 429.
        status: u16,
        /// GitHub's `message` (token redacted).
        message: String,
        /// How long GitHub asked to wait, from the last reply.
        retry_after: Option<std::time::Duration>,
    },
    /// A report could not be rendered.
    #[error("cannot render the {format} report: {reason}")]
    Render {
        /// The output format, e.g. `svg`.
        format: String,
        /// What went wrong.
        reason: String,
    },
}

impl DoraError {
    /// Whether retrying the same call later can succeed (rate limits, 5xx, network).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::GitHub { source, .. } => source.is_retryable(),
            Self::GitHubRateLimited { .. } => true,
            _ => false,
        }
    }
}
