//! The CLI's error type: every failure names the file, flag or field involved.

use parky_slo::SloError;
use thiserror::Error;

/// A failure of a `parky` command.
#[derive(Debug, Error)]
pub(crate) enum CliError {
    /// A flag's value could not be used.
    #[error("invalid value for {flag}: {reason}")]
    Flag {
        /// The flag, e.g. `--objective`.
        flag: &'static str,
        /// Why the value was refused.
        reason: String,
    },
    /// An environment variable the command needs (a secret such as an API token) is not set.
    #[error("{var} is not set: {hint}")]
    MissingEnv {
        /// The variable, e.g. `SENTRY_AUTH_TOKEN`.
        var: &'static str,
        /// What to set it to.
        hint: &'static str,
    },
    /// The input held nothing to report on.
    #[error("no requests found in {input} ({detail})")]
    NoRequests {
        /// The file, or `standard input`.
        input: String,
        /// What was read instead.
        detail: String,
    },
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: std::path::PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A configuration file was refused.
    #[error("{}: {source}", path.display())]
    Config {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong, with the field's path inside the file (boxed: the error is large).
        source: Box<parky_notify::NotifyError>,
    },
    /// `notify send` could not deliver everything now; the rest is kept in the outbox.
    #[error(
        "{undelivered} notification(s) not delivered yet: kept in {} (`parky notify outbox list --outbox {}` shows why; `parky notify serve` retries what is due)",
        outbox.display(),
        outbox.display()
    )]
    NotDelivered {
        /// How many of this command's messages are still pending or dead.
        undelivered: usize,
        /// The outbox file.
        outbox: std::path::PathBuf,
    },
    /// The async runtime for the HTTP commands could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    /// The SLO library refused the input.
    #[error(transparent)]
    Slo(SloError),
    /// The notification library refused the input or could not deliver (boxed: the error is
    /// large).
    #[error(transparent)]
    Notify(Box<parky_notify::NotifyError>),
    /// The deploy library refused the input or the platform refused a call.
    #[error(transparent)]
    Deploy(Box<parky_deploy::DeployError>),
    /// The DORA library refused the input, or a source (git, GitHub) failed (boxed: the
    /// error is large).
    #[error(transparent)]
    Dora(Box<parky_dora::DoraError>),
    /// A retry or backoff setting was refused.
    #[error(transparent)]
    Core(#[from] parky_core::CoreError),
    /// Writing the output failed.
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
    /// Serialising JSON output failed for another reason than writing it.
    #[error("cannot encode JSON output: {0}")]
    Json(serde_json::Error),
}

impl CliError {
    /// Whether the error is the reader of our output going away (`parky … | head`): not a
    /// failure worth reporting.
    pub(crate) fn is_broken_pipe(&self) -> bool {
        matches!(self, CliError::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// Library configuration fields that come straight from a command-line flag.
const FLAG_OF_FIELD: [(&str, &str); 4] = [
    ("objective", "--objective"),
    ("period", "--period"),
    ("resolution", "--resolution"),
    ("max_malformed_share", "--max-malformed"),
];

impl From<SloError> for CliError {
    /// Names the flag instead of the library's field where the field came from a flag.
    fn from(err: SloError) -> Self {
        if let SloError::InvalidConfig { field, reason } = &err {
            if let Some((_, flag)) = FLAG_OF_FIELD.iter().find(|(f, _)| f == field) {
                return CliError::Flag {
                    flag,
                    reason: reason.clone(),
                };
            }
        }
        CliError::Slo(err)
    }
}

impl From<parky_notify::NotifyError> for CliError {
    fn from(err: parky_notify::NotifyError) -> Self {
        CliError::Notify(Box::new(err))
    }
}

impl From<parky_deploy::DeployError> for CliError {
    fn from(err: parky_deploy::DeployError) -> Self {
        CliError::Deploy(Box::new(err))
    }
}

impl From<serde_json::Error> for CliError {
    fn from(err: serde_json::Error) -> Self {
        if err.is_io() {
            CliError::Output(std::io::Error::from(err))
        } else {
            CliError::Json(err)
        }
    }
}
