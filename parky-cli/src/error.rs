//! The CLI's error type: every failure names the file, flag or field involved.

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
    /// The SLO library refused the input.
    #[error(transparent)]
    Slo(#[from] parky_slo::error::SloError),
    /// Writing the output failed (e.g. a closed pipe).
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
    /// Serialising JSON output failed.
    #[error("cannot encode JSON output: {0}")]
    Json(#[from] serde_json::Error),
}
