//! The one error type of `parky-slo`.

use thiserror::Error;

/// Everything that can go wrong in `parky-slo`. Variants carry the context (field, file, line)
/// needed to act on them; none of them panics on bad input.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SloError {
    /// A configuration value is out of range or inconsistent; `field` names it.
    #[error("invalid value for `{field}`: {reason}")]
    InvalidConfig {
        /// The configuration field, e.g. `objective` or `windows[2].long`.
        field: String,
        /// Why the value was refused.
        reason: String,
    },
}
