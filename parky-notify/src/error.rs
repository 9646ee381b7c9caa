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
