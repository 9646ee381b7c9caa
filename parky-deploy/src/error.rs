//! The one error type of `parky-deploy`.

use thiserror::Error;

/// Everything that can go wrong in `parky-deploy`; variants carry the field, service, HTTP
/// status or API error code involved.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum DeployError {
    /// A configuration value is out of range or inconsistent; `field` names it.
    #[error("invalid value for `{field}`: {reason}")]
    InvalidConfig {
        /// The configuration field, e.g. `steps[2]` or `services.admin.depends_on[0]`.
        field: String,
        /// Why the value was refused.
        reason: String,
    },
    /// A deploy plan (YAML) could not be parsed; `line`/`column` are 1-based when known.
    #[error("cannot parse the deploy plan{}: {reason}", crate::error::at_location(*.line, *.column))]
    PlanSyntax {
        /// The 1-based line of the error, if known.
        line: Option<usize>,
        /// The 1-based column of the error, if known.
        column: Option<usize>,
        /// The parser's message (it names the field where it can).
        reason: String,
    },
    /// Secrets required by the plan are not available; nothing was started. Each entry is
    /// `(service, secret name)`, in plan order.
    #[error("missing secrets, nothing was started: {}", crate::error::list_missing(.missing))]
    MissingSecrets {
        /// Every missing `(service, secret name)` pair.
        missing: Vec<(String, String)>,
    },
    /// A [`Deployer`](crate::plan::Deployer) failed to deploy or roll back a service.
    #[error("{operation} of service `{service}` failed: {reason}")]
    ServiceOperation {
        /// The service.
        service: String,
        /// `deploy` or `rollback`.
        operation: String,
        /// What went wrong.
        reason: String,
    },
    /// A service's deploy or rollback command did not succeed (see
    /// [`CommandDeployer`](crate::plan::CommandDeployer)).
    #[error("{operation} of service `{service}` failed: `{program}` {failure}{}", crate::error::stderr_text(.stderr_tail))]
    ServiceCommand {
        /// The service.
        service: String,
        /// `deploy` or `rollback`.
        operation: String,
        /// The program that was run (the command's first element).
        program: String,
        /// How it failed.
        failure: CommandFailure,
        /// The last lines of its standard error (empty when it had none or was killed).
        stderr_tail: String,
    },
    /// A deploy run stopped at service `failed` (its deploy or smoke test failed); the
    /// services deployed before it (and it, when its smoke test failed) were rolled back in
    /// reverse order (`rolled_back`), except `still_deployed`, whose rollback failed. The
    /// [`RunReport`](crate::plan::RunReport) has every step.
    #[error("deploy run failed at service `{failed}`; {}", crate::error::rollback_text(.rolled_back, .still_deployed))]
    RunFailed {
        /// The service that failed.
        failed: String,
        /// Services rolled back, in rollback order (empty when the first service's deploy
        /// failed: nothing was deployed).
        rolled_back: Vec<String>,
        /// Services whose rollback failed (they may run the new version), in rollback order.
        still_deployed: Vec<String>,
    },
    /// The GitHub API refused a request or could not be reached; `source` carries the HTTP
    /// status and GitHub's `message`.
    #[error("GitHub {operation}: {source}{}", crate::error::github_details(.documentation_url.as_deref(), .errors))]
    GitHubApi {
        /// What was attempted, e.g. `create deployment`.
        operation: String,
        /// The status, GitHub's `message` and any requested wait (boxed to keep the enum
        /// small).
        source: Box<parky_core::ApiError>,
        /// GitHub's `documentation_url`, if the reply had one.
        documentation_url: Option<String>,
        /// The `errors` array of a 422 "Validation Failed" reply.
        errors: Vec<crate::recorder::GitHubFieldError>,
    },
    /// GitHub's rate limit is exhausted (403 or 429 with `retry-after`,
    /// `x-ratelimit-remaining: 0`, or a secondary-rate-limit message); retry after `retry_after`.
    #[error("GitHub {operation}: rate limited (HTTP {status}): {message}{}", crate::error::retry_after_text(*.retry_after))]
    GitHubRateLimited {
        /// What was attempted.
        operation: String,
        /// 403 or 429.
        status: u16,
        /// GitHub's `message`.
        message: String,
        /// GitHub's `documentation_url`, if any.
        documentation_url: Option<String>,
        /// How long to wait, from `retry-after` or `x-ratelimit-reset` against the injected clock.
        retry_after: Option<std::time::Duration>,
    },
    /// GitHub answered `202 Accepted`: it merged the default branch into the ref instead of
    /// creating a deployment. Asking again creates it (when no new commits arrived meanwhile).
    #[error("GitHub merged the default branch instead of creating a deployment: {message}")]
    GitHubAutoMerged {
        /// GitHub's `message`, e.g. `Auto-merged master into topic-branch on deployment.`
        message: String,
    },
    /// A 2xx reply that does not have the documented shape.
    #[error("GitHub {operation}: unexpected reply (HTTP {status}): {reason}")]
    GitHubMalformedReply {
        /// What was attempted.
        operation: String,
        /// The HTTP status.
        status: u16,
        /// What was wrong with it.
        reason: String,
    },
    /// The deploy record file could not be read or written.
    #[error("deploy record file `{path}`: {reason}")]
    RecordFile {
        /// The file.
        path: String,
        /// The I/O or parse error.
        reason: String,
    },
    /// The Cloudflare Workers API (or the simulator standing in for it) failed `operation`:
    /// `source` carries the HTTP status, Cloudflare's error code (`errors[0].code`), the
    /// messages and any `Retry-After`.
    #[error("Workers API: {operation}: {source}")]
    WorkersApi {
        /// What was attempted, e.g. `list deployments of my-worker`.
        operation: String,
        /// The status, Cloudflare's code and messages, and any requested wait (boxed to keep
        /// the enum small).
        source: Box<parky_core::ApiError>,
    },
    /// Cloudflare refused a deployment with code 10220 because secrets changed since the
    /// target version was deployed; the same request with `force` goes through.
    #[error("Workers API: {operation}: secrets changed since the target version was deployed ({}); deploy with force to proceed", .secrets.join(", "))]
    WorkersSecretsChanged {
        /// What was attempted.
        operation: String,
        /// The names of the changed secrets as Cloudflare listed them (names, never values).
        secrets: Vec<String>,
        /// The status, code 10220 and Cloudflare's message (boxed).
        source: Box<parky_core::ApiError>,
    },
    /// Cloudflare's GraphQL Analytics API answered with GraphQL `errors` (a query it refused,
    /// a missing permission, a dataset limit).
    #[error("Cloudflare analytics: {operation}: {}", .messages.join("; "))]
    AnalyticsQuery {
        /// What was attempted, e.g. `query Workers analytics of my-worker`.
        operation: String,
        /// Each error's message (and its `path`, when given).
        messages: Vec<String>,
    },
    /// A Workers API reply that does not have the documented shape.
    #[error("Workers API: {operation}: unexpected reply (HTTP {status}): {reason}")]
    WorkersMalformedReply {
        /// What was attempted.
        operation: String,
        /// The HTTP status.
        status: u16,
        /// What was wrong with it.
        reason: String,
    },
    /// A Workers deployment request was refused before anything was sent.
    #[error("invalid Workers deployment: `{field}`: {reason}")]
    InvalidDeployment {
        /// The offending field, e.g. `versions`, `versions[1].percentage`, `message`.
        field: String,
        /// Why it was refused.
        reason: String,
    },
    /// No earlier deployment of `script` ran a single version at 100 % (wrangler's rule).
    #[error(
        "no rollback target for Worker `{script}`: no earlier deployment ran one version at 100%"
    )]
    NoRollbackTarget {
        /// The Worker script.
        script: String,
    },
    /// Worker `script` has no deployment, so it serves no traffic split.
    #[error("Worker `{script}` has no deployment")]
    NoDeployment {
        /// The Worker script.
        script: String,
    },
    /// A persisted canary state is inconsistent (e.g. a traffic weight that does not fit its
    /// phase) or a state was created from impossible values; `field` names the culprit.
    #[error("invalid canary state `{field}`: {reason}")]
    InvalidState {
        /// The state field, e.g. `weight` or `canary`.
        field: String,
        /// Why the value was refused.
        reason: String,
    },
    /// A manual canary command does not apply in the canary's current phase.
    #[error("cannot {command} a canary that is {phase}")]
    CommandNotAllowed {
        /// The command, e.g. `resume`.
        command: String,
        /// The phase the canary is in, e.g. `succeeded`.
        phase: String,
    },
    /// No decision with this id is in the shadow ledger.
    #[error("no decision {id} in the shadow ledger")]
    UnknownDecision {
        /// The id that was asked for.
        id: u64,
    },
    /// The canary controller's state file could not be opened, read or written, or holds a
    /// row that does not decode.
    #[error("controller state `{path}`: {operation}: {reason}")]
    StateStore {
        /// The SQLite file.
        path: String,
        /// What the controller was doing, e.g. `take the lease`.
        operation: String,
        /// SQLite's or the decoder's message.
        reason: String,
    },
    /// The controller's state file was written by a newer build (its `PRAGMA user_version`).
    #[error(
        "controller state `{path}` has schema version {found}; this build reads up to {supported}"
    )]
    StateSchemaTooNew {
        /// The SQLite file.
        path: String,
        /// The file's schema version.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// Another controller holds the lease on the canary; try again after `until`.
    #[error("controller `{holder}` holds the canary's lease until {until}")]
    LeaseBusy {
        /// The other controller's holder id.
        holder: String,
        /// When its lease expires.
        until: chrono::DateTime<chrono::Utc>,
    },
    /// The lease expired and another controller took it before this one saved its work;
    /// nothing was saved (the other controller reconciles from the platform).
    #[error("controller `{holder}` lost the canary's lease before saving; nothing was saved")]
    LeaseLost {
        /// This controller's holder id.
        holder: String,
    },
    /// The platform serves a split that is neither what the canary state expects nor what
    /// the last planned action asked for: someone changed it by hand. The controller refuses
    /// to act (an operator's abort still goes through).
    #[error("Worker `{script}` serves {actual}, but the canary state expects {expected}")]
    TrafficDrift {
        /// The Worker script.
        script: String,
        /// The split the state (or the pending action) stands for, e.g. `v1 90% + v2 10%`.
        expected: String,
        /// The split the platform serves.
        actual: String,
    },
    /// A file given as the controller's state file is not one (another SQLite database, or
    /// not SQLite at all); it was left untouched.
    #[error("`{path}` is not a Parky canary state file: {reason}")]
    NotAStateFile {
        /// The file.
        path: String,
        /// What was found instead.
        reason: String,
    },
    /// A tick asked for a time earlier than the last tick recorded in the state file (the
    /// clock, or a `--now`, went backwards); nothing was done. Ticks resume once `now` reaches
    /// the slot after `last_tick_slot_start`.
    #[error("controller state `{path}`: a tick at {now} is earlier than the last recorded tick (in the slot from {last_tick_slot_start}); refusing to tick back in time")]
    TickBeforeLast {
        /// The SQLite file.
        path: String,
        /// The time the tick was asked for.
        now: chrono::DateTime<chrono::Utc>,
        /// The start of the slot of the last recorded tick.
        last_tick_slot_start: chrono::DateTime<chrono::Utc>,
    },
    /// The state file records a canary on Worker `recorded`, and the controller was asked
    /// to act on Worker `given`; nothing was done.
    #[error("controller state `{path}` holds the canary of Worker `{recorded}`, not `{given}`; refusing to act on another Worker's canary")]
    WrongScript {
        /// The SQLite file.
        path: String,
        /// The Worker script the canary was started on.
        recorded: String,
        /// The Worker script this controller was opened for.
        given: String,
    },
    /// No canary has been started in this controller's state file.
    #[error("no canary has been started in `{path}`")]
    NoCanary {
        /// The SQLite file.
        path: String,
    },
}

/// How a deploy or rollback command failed ([`DeployError::ServiceCommand`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandFailure {
    /// It exited with this non-zero status.
    Exit(i32),
    /// It was killed by a signal (its number, where the platform tells).
    Signal(Option<i32>),
    /// It ran past its timeout and was killed.
    TimedOut(std::time::Duration),
    /// It could not be started (program not found, working directory missing, …).
    Spawn(String),
}

impl std::fmt::Display for CommandFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exit(code) => write!(f, "exited with status {code}"),
            Self::Signal(Some(signal)) => write!(f, "was killed by signal {signal}"),
            Self::Signal(None) => f.write_str("was killed by a signal"),
            Self::TimedOut(after) => write!(
                f,
                "did not finish within {} and was killed",
                humantime::format_duration(*after)
            ),
            Self::Spawn(reason) => write!(f, "could not be started: {reason}"),
        }
    }
}

impl DeployError {
    /// Whether the same call can succeed later: GitHub rate limits, retryable
    /// [`parky_core::ApiError`]s (timeouts, 5xx, …), GitHub's auto-merge reply and a canary
    /// lease held by another controller.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::GitHubApi { source, .. } => source.is_retryable(),
            Self::WorkersApi { source, .. } => source.is_retryable(),
            Self::GitHubRateLimited { .. }
            | Self::GitHubAutoMerged { .. }
            | Self::LeaseBusy { .. } => true,
            _ => false,
        }
    }

    /// The wait the service asked for, if any.
    #[must_use]
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::GitHubApi { source, .. } => source.retry_after(),
            Self::WorkersApi { source, .. } | Self::WorkersSecretsChanged { source, .. } => {
                source.retry_after()
            }
            Self::GitHubRateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

fn at_location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!(" at line {line}, column {column}"),
        (Some(line), None) => format!(" at line {line}"),
        _ => String::new(),
    }
}

fn rollback_text(rolled_back: &[String], still_deployed: &[String]) -> String {
    if still_deployed.is_empty() {
        if rolled_back.is_empty() {
            "nothing was deployed before it, so nothing was rolled back".to_owned()
        } else {
            format!("rolled back in reverse order: {}", rolled_back.join(", "))
        }
    } else {
        format!(
            "rollback INCOMPLETE: {} may still run the new version",
            still_deployed.join(", ")
        )
    }
}

fn stderr_text(tail: &str) -> String {
    if tail.trim().is_empty() {
        String::new()
    } else {
        format!("; stderr:\n{tail}")
    }
}

fn list_missing(missing: &[(String, String)]) -> String {
    missing
        .iter()
        .map(|(service, name)| format!("`{name}` (services.{service}.secrets)"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn github_details(
    documentation_url: Option<&str>,
    errors: &[crate::recorder::GitHubFieldError],
) -> String {
    let mut text = String::new();
    for error in errors {
        text.push_str("; ");
        text.push_str(&error.to_string());
    }
    if let Some(url) = documentation_url {
        text.push_str(&format!(" (see {url})"));
    }
    text
}

fn retry_after_text(retry_after: Option<std::time::Duration>) -> String {
    retry_after.map_or_else(String::new, |wait| {
        format!(" (retry after {}s)", wait.as_secs_f64())
    })
}
