//! The one error type of `parky-notify`.
//!
//! Validation errors word their reason as Alertmanager 0.25 does (`undefined receiver "x" used
//! in route`, `root route must not have any matchers`, …) and add the path of the offending
//! field in the configuration, such as `route.routes[1].routes[0].receiver`.

use thiserror::Error;

/// Everything that can go wrong in `parky-notify`. Every variant names where in the
/// configuration the problem is; none of them comes from a panic.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// The text is not YAML, or its shape does not fit the configuration (unknown field, wrong
    /// type, missing `name`, …).
    #[error("invalid YAML{}: {message}", location(*line, *column))]
    Yaml {
        /// 1-based line of the problem, when the YAML parser knows it.
        line: Option<usize>,
        /// 1-based column of the problem, when the YAML parser knows it.
        column: Option<usize>,
        /// The parser's description (it names the field where it can).
        message: String,
    },
    /// The configuration has no `route` section.
    #[error("no route provided in config")]
    NoRoute,
    /// The root route has no `receiver`.
    #[error("{path}: root route must specify a default receiver")]
    RootRouteWithoutReceiver {
        /// Always `route.receiver`.
        path: String,
    },
    /// The root route has `match`, `match_re` or `matchers`: it must match every alert.
    #[error("{path}: root route must not have any matchers")]
    RootRouteHasMatchers {
        /// The offending field, e.g. `route.matchers`.
        path: String,
    },
    /// The root route has `continue: true`.
    #[error("{path}: cannot have continue in root route")]
    RootRouteContinue {
        /// Always `route.continue`.
        path: String,
    },
    /// The root route has `mute_time_intervals` or `active_time_intervals`.
    #[error("{path}: root route must not have any {kind} time intervals")]
    RootRouteTimeIntervals {
        /// The offending field, e.g. `route.mute_time_intervals`.
        path: String,
        /// `mute` or `active`.
        kind: &'static str,
    },
    /// A route names a receiver that `receivers` does not define.
    #[error("{path}: undefined receiver {receiver:?} used in route")]
    UnknownReceiver {
        /// The field, e.g. `route.routes[1].routes[0].receiver`.
        path: String,
        /// The undefined name.
        receiver: String,
    },
    /// A route names a time interval that neither `time_intervals` nor `mute_time_intervals`
    /// defines.
    #[error("{path}: undefined time interval {name:?} used in route")]
    UnknownTimeInterval {
        /// The field, e.g. `route.routes[0].mute_time_intervals[1]`.
        path: String,
        /// The undefined name.
        name: String,
    },
    /// Two receivers have the same name.
    #[error("{path}: notification config name {name:?} is not unique")]
    DuplicateReceiver {
        /// The second definition, e.g. `receivers[3].name`.
        path: String,
        /// The repeated name.
        name: String,
    },
    /// Two time intervals (across `mute_time_intervals` and `time_intervals`) have the same name.
    #[error("{path}: time interval {name:?} is not unique")]
    DuplicateTimeInterval {
        /// The second definition, e.g. `time_intervals[1].name`.
        path: String,
        /// The repeated name.
        name: String,
    },
    /// A receiver or time interval has an empty name.
    #[error("{path}: missing name in {kind}")]
    MissingName {
        /// The field, e.g. `receivers[0].name`.
        path: String,
        /// `receiver` or `time interval`.
        kind: &'static str,
    },
    /// A matcher string does not parse (Alertmanager's `pkg/labels` syntax).
    #[error("{path}: {reason}: {input}")]
    InvalidMatcher {
        /// The field, e.g. `route.routes[0].matchers[2]`.
        path: String,
        /// The text that was refused.
        input: String,
        /// Why, e.g. `bad matcher format`.
        reason: String,
    },
    /// A regular expression does not compile.
    #[error("{path}: invalid regular expression {pattern:?}: {reason}")]
    InvalidRegex {
        /// The field, e.g. `route.routes[2].match_re.service`.
        path: String,
        /// The pattern as written (before anchoring).
        pattern: String,
        /// The compiler's message.
        reason: String,
    },
    /// A label name is not a valid Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`).
    #[error("{path}: invalid label name {name:?}")]
    InvalidLabelName {
        /// The field, e.g. `route.group_by[1]`.
        path: String,
        /// The refused name.
        name: String,
    },
    /// `group_by` is inconsistent (wildcard mixed with labels, or a label twice).
    #[error("{path}: {reason}")]
    InvalidGroupBy {
        /// The field, e.g. `route.routes[0].group_by`.
        path: String,
        /// Alertmanager's wording of the problem.
        reason: String,
    },
    /// A duration is not a Prometheus duration (`30s`, `1h30m`, `1d`), or is zero where
    /// Alertmanager forbids it.
    #[error("{path}: {reason}: {value:?}")]
    InvalidDuration {
        /// The field, e.g. `route.routes[1].group_interval`.
        path: String,
        /// The text that was refused.
        value: String,
        /// Why.
        reason: String,
    },
    /// A time interval field (`times`, `weekdays`, `days_of_month`, `months`, `years`,
    /// `location`) is out of range or malformed.
    #[error("{path}: {reason}")]
    InvalidTimeInterval {
        /// The field, e.g. `time_intervals[0].time_intervals[1].days_of_month[0]`.
        path: String,
        /// Alertmanager's wording of the problem where it has one.
        reason: String,
    },
    /// The severity strategy configuration is invalid: an unknown time zone, a malformed time
    /// of day, an escalation that does not escalate, a receiver the routing configuration
    /// does not define, …
    #[error("{path}: {reason}")]
    InvalidStrategy {
        /// The field, e.g. `severities.P2.quiet_hours.timezone`.
        path: String,
        /// What is wrong, e.g. `unknown time zone "Asia/Tokio"`.
        reason: String,
    },
    /// A silence is invalid (no matchers, only matchers that match the empty string, or an
    /// end not after its start).
    #[error("silence {field}: {reason}")]
    InvalidSilence {
        /// The field of the silence: `matchers` or `ends_at`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The outbox's storage failed: the database file cannot be opened or read, is not a
    /// SQLite database, is locked for too long, or a statement failed.
    #[error("outbox {file}: {operation} failed: {message}")]
    OutboxStorage {
        /// The database file (`:memory:` or `<memory>` for in-memory stores).
        file: String,
        /// What the outbox was doing, e.g. `open`, `claim due entries`.
        operation: &'static str,
        /// The storage engine's message, e.g. `file is not a database`.
        message: String,
    },
    /// A stored outbox row cannot be decoded (its message is not valid JSON, a timestamp is
    /// out of range, …).
    #[error("outbox {file}: corrupt row {id} in table {table}: {reason}")]
    OutboxCorruptRow {
        /// The database file.
        file: String,
        /// `outbox` or `dead_letters`.
        table: &'static str,
        /// The row's entry id.
        id: i64,
        /// What is wrong with it.
        reason: String,
    },
    /// The database was written by a newer version of the outbox schema than this build knows.
    #[error(
        "outbox {file}: schema version {found} is newer than the supported version {supported}"
    )]
    OutboxSchemaTooNew {
        /// The database file.
        file: String,
        /// The file's `PRAGMA user_version`.
        found: i64,
        /// The newest version this build can read.
        supported: i64,
    },
    /// The file given as the outbox is not empty and is not a Parky outbox (another SQLite
    /// database, such as a canary state file, or an outbox with foreign tables or a foreign
    /// `application_id`). Nothing was written to it.
    #[error("`{file}` is not a Parky outbox: {reason}")]
    NotAnOutbox {
        /// The database file.
        file: String,
        /// What was found instead, e.g. `it is another SQLite database (tables: canary, journal, lease)`.
        reason: String,
    },
    /// A receiver of this configuration is bound, in the outbox file, to another target (a
    /// different URL, routing key or file) while the file still holds undelivered
    /// notifications for that receiver: delivering them here would send another
    /// configuration's messages to this configuration's target. Only fingerprints are
    /// compared; no URL or key is shown.
    #[error(
        "outbox {file}: receiver {receiver:?} of this configuration has another target than the \
         configuration that wrote the file, which still holds {undelivered} for it; deliver \
         them with that configuration, or use another outbox file"
    )]
    OutboxOwnerMismatch {
        /// The database file.
        file: String,
        /// The receiver's name.
        receiver: String,
        /// What the file still holds for it, e.g. `2 pending and 1 dead notifications`.
        undelivered: String,
    },
    /// A stored pipeline state was written in another format version than this build reads.
    #[error("pipeline state format version {found} is not supported (this build reads version {supported})")]
    PipelineStateVersion {
        /// The snapshot's version.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// An outbox operation named an entry that does not exist where it looked: `ack` and `fail`
    /// look in the outbox and the dead letters, `requeue` only in the dead letters.
    #[error("outbox {file}: no entry with id {id}")]
    OutboxEntryNotFound {
        /// The database file.
        file: String,
        /// The entry id asked for.
        id: i64,
    },
    /// A Sentry alert rules file is invalid; `path` names the field, e.g. `rules[3].frequency`.
    #[error("{path}: {reason}")]
    InvalidSentryRule {
        /// The field, e.g. `routing.P0[1].discord.channel_id`.
        path: String,
        /// Why it was refused.
        reason: String,
    },
    /// The Sentry API refused a request or could not be reached (see
    /// [`NotifyError::is_retryable`]).
    #[error("sentry {operation}: {source}")]
    SentryApi {
        /// What was being done, e.g. `create issue rule "[parky] 5xx burst"`.
        operation: String,
        /// The typed HTTP error (status, Sentry's `detail`, `Retry-After`).
        source: parky_core::ApiError,
    },
    /// The Sentry API answered with a success status but a body that does not have the
    /// documented shape (not JSON, a rule without `id`, …).
    #[error("sentry {operation}: malformed response (HTTP {status}): {reason}")]
    SentryMalformedResponse {
        /// What was being done, e.g. `list metric rules`.
        operation: String,
        /// The HTTP status of the reply.
        status: u16,
        /// What is wrong with the body.
        reason: String,
    },
    /// A receiver's service refused a delivery or could not be reached. Retryable when the
    /// [`parky_core::ApiError`] is (timeouts, network failures, 408, 425, 429, 500, 502, 503,
    /// 504), with the service's requested wait in [`NotifyError::retry_after`]. Never contains
    /// a webhook URL or token.
    #[error("receiver {receiver:?}: {source}")]
    Delivery {
        /// The receiver's name (`receivers[].name`).
        receiver: String,
        /// The typed HTTP error (status, the service's own code and message, `Retry-After`).
        source: parky_core::ApiError,
    },
    /// PagerDuty refused an event as invalid (HTTP 400, `"status": "invalid event"`). Permanent.
    #[error(
        "receiver {receiver:?}: PagerDuty rejected the event: {message}{}",
        list_errors(errors)
    )]
    InvalidEvent {
        /// The receiver's name.
        receiver: String,
        /// PagerDuty's `message`, e.g. `Event object is invalid`.
        message: String,
        /// PagerDuty's `errors`, e.g. `Length of 'routing_key' is incorrect (should be 32 characters)`.
        errors: Vec<String>,
    },
    /// A file receiver could not open or write its file (retryable: a full disk or a missing
    /// directory can be fixed).
    #[error("receiver {receiver:?}: {operation} {path}: {message}")]
    ReceiverIo {
        /// The receiver's name.
        receiver: String,
        /// The file, or `-` for standard output.
        path: String,
        /// What was being done: `open`, `write`.
        operation: &'static str,
        /// The operating system's message.
        message: String,
    },
    /// A receiver's own client-side rate limiter (e.g. Discord's 5 requests per 2 s per
    /// webhook, or a wait Discord asked for) would have to wait longer than the receiver's
    /// maximum wait: nothing was sent; retry after `retry_after`.
    #[error("receiver {receiver:?}: rate limited on our side, next request allowed in {}s", retry_after.as_secs_f64())]
    Throttled {
        /// The receiver's name.
        receiver: String,
        /// How long until the limiter lets the next request through.
        retry_after: std::time::Duration,
    },
    /// A receiver's integration block (`discord_configs`, `webhook_configs`, …) cannot be
    /// turned into a notifier: an unknown field, a missing or doubled URL or key, a secret
    /// file that cannot be read. Never contains the URL, key or file content.
    #[error("{path}: {reason}")]
    InvalidReceiverConfig {
        /// The field, e.g. `receivers[2].discord_configs[0].webhook_url`.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An alert payload received over HTTP does not have the documented shape.
    #[error("{field}: {reason}")]
    InvalidPayload {
        /// The JSON path of the offending field, e.g. `alerts[0].startsAt` (`$` for the
        /// whole body).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The alert intake server failed (binding, accepting or serving connections).
    #[error("server: {operation} failed: {message}")]
    Server {
        /// What was being done, e.g. `serve`.
        operation: &'static str,
        /// The operating system's or HTTP library's message.
        message: String,
    },
    /// A receiver could not be set up (its HTTP client failed to initialise).
    #[error("receiver {receiver:?}: cannot set up: {reason}")]
    ReceiverSetup {
        /// The receiver's name.
        receiver: String,
        /// Why.
        reason: String,
    },
}

fn list_errors(errors: &[String]) -> String {
    if errors.is_empty() {
        String::new()
    } else {
        format!(": {}", errors.join("; "))
    }
}

fn location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(" at line {l} column {c}"),
        (Some(l), None) => format!(" at line {l}"),
        _ => String::new(),
    }
}

impl From<serde_yaml_ng::Error> for NotifyError {
    fn from(err: serde_yaml_ng::Error) -> Self {
        let loc = err.location();
        NotifyError::Yaml {
            line: loc.as_ref().map(|l| l.line()),
            column: loc.as_ref().map(|l| l.column()),
            message: err.to_string(),
        }
    }
}

impl NotifyError {
    /// The configuration path the error is about (`route.routes[0].receiver`), or `None` for
    /// YAML syntax errors and a missing `route`.
    pub fn path(&self) -> Option<&str> {
        match self {
            NotifyError::Yaml { .. } | NotifyError::NoRoute => None,
            NotifyError::OutboxStorage { .. }
            | NotifyError::OutboxCorruptRow { .. }
            | NotifyError::OutboxSchemaTooNew { .. }
            | NotifyError::NotAnOutbox { .. }
            | NotifyError::OutboxEntryNotFound { .. }
            | NotifyError::OutboxOwnerMismatch { .. }
            | NotifyError::PipelineStateVersion { .. } => None,
            NotifyError::InvalidSilence { .. } => None,
            NotifyError::InvalidStrategy { path, .. } => Some(path),
            NotifyError::InvalidReceiverConfig { path, .. } => Some(path),
            NotifyError::InvalidPayload { .. } | NotifyError::Server { .. } => None,
            NotifyError::InvalidSentryRule { path, .. } => Some(path),
            NotifyError::SentryApi { .. } | NotifyError::SentryMalformedResponse { .. } => None,
            NotifyError::Delivery { .. }
            | NotifyError::InvalidEvent { .. }
            | NotifyError::ReceiverIo { .. }
            | NotifyError::Throttled { .. }
            | NotifyError::ReceiverSetup { .. } => None,
            NotifyError::RootRouteWithoutReceiver { path }
            | NotifyError::RootRouteHasMatchers { path }
            | NotifyError::RootRouteContinue { path }
            | NotifyError::RootRouteTimeIntervals { path, .. }
            | NotifyError::UnknownReceiver { path, .. }
            | NotifyError::UnknownTimeInterval { path, .. }
            | NotifyError::DuplicateReceiver { path, .. }
            | NotifyError::DuplicateTimeInterval { path, .. }
            | NotifyError::MissingName { path, .. }
            | NotifyError::InvalidMatcher { path, .. }
            | NotifyError::InvalidRegex { path, .. }
            | NotifyError::InvalidLabelName { path, .. }
            | NotifyError::InvalidGroupBy { path, .. }
            | NotifyError::InvalidDuration { path, .. }
            | NotifyError::InvalidTimeInterval { path, .. } => Some(path),
        }
    }
}

impl NotifyError {
    /// Whether repeating the same operation later can succeed: `true` for Sentry API and
    /// receiver delivery errors that [`parky_core::ApiError::is_retryable`] calls retryable
    /// (timeouts, network failures, 408, 425, 429, 500, 502, 503, 504), for a file
    /// receiver's I/O errors and for client-side throttling. Configuration errors and refused events never are.
    pub fn is_retryable(&self) -> bool {
        match self {
            NotifyError::SentryApi { source, .. } => source.is_retryable(),
            NotifyError::Delivery { source, .. } => source.is_retryable(),
            NotifyError::ReceiverIo { .. } | NotifyError::Throttled { .. } => true,
            _ => false,
        }
    }

    /// How long the service asked to wait before retrying (`Retry-After`, Discord's
    /// `retry_after`), if it did.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            NotifyError::SentryApi { source, .. } | NotifyError::Delivery { source, .. } => {
                source.retry_after()
            }
            NotifyError::Throttled { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

impl parky_core::Retryable for NotifyError {
    fn is_retryable(&self) -> bool {
        NotifyError::is_retryable(self)
    }

    fn retry_after(&self) -> Option<std::time::Duration> {
        NotifyError::retry_after(self)
    }
}
