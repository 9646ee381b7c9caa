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
    /// A latency observation was not a number (NaN) and cannot be placed in any bucket.
    #[error("latency observation is not a number: {value}")]
    InvalidObservation {
        /// The refused value.
        value: f64,
    },
    /// Two latency histograms with different bucket bounds cannot be merged.
    #[error(
        "bucket layouts differ at bucket {index}; only histograms with identical bounds merge"
    )]
    BucketLayoutMismatch {
        /// Index of the first bucket bound that differs (or the length of the shorter layout).
        index: usize,
    },
    /// A latency threshold must be one of the histogram's bucket bounds to be counted exactly.
    #[error("`{field}` = {threshold_seconds} s is not a bucket bound of the histogram")]
    ThresholdNotABucketBound {
        /// The configuration field, e.g. `threshold_seconds`.
        field: String,
        /// The threshold that matches no bucket bound.
        threshold_seconds: f64,
    },
    /// A measured sample (requests, errors, latency) is impossible; `field` names it.
    #[error("invalid sample `{field}`: {reason}")]
    InvalidSample {
        /// The sample field, e.g. `canary.errors`.
        field: String,
        /// Why the value was refused.
        reason: String,
    },
    /// An SLI input (access log, trace events) could not be opened or read. Displays as
    /// ``cannot open `x.log`: …`` when opening failed (`line` 0), else
    /// ``cannot read `x.log` (at line 7): …``.
    #[error(
        "cannot {} `{input}`{}: {source}",
        if *line == 0 { "open" } else { "read" },
        if *line == 0 { String::new() } else { format!(" (at line {line})") }
    )]
    ReadInput {
        /// The file path, or the name given to a reader without one.
        input: String,
        /// The 1-based line being read when the error happened; 0 when the input could not be
        /// opened.
        line: u64,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Too many lines of an SLI input could not be parsed; it is probably not in the format
    /// it was read as.
    #[error(
        "`{input}`: {malformed} of {lines} non-blank lines read are malformed, more than the \
         allowed {:.3} % (first at line {first_line}: {first_reason}); is it in the right format?",
        max_share * 100.0
    )]
    TooManyMalformedLines {
        /// The file path, or the name given to a reader without one.
        input: String,
        /// Malformed lines so far.
        malformed: u64,
        /// Non-blank lines read so far (reading may have stopped early).
        lines: u64,
        /// The configured maximum share of malformed lines, in 0..=1.
        max_share: f64,
        /// The 1-based number of the first malformed line.
        first_line: u64,
        /// Why the first malformed line was refused.
        first_reason: String,
    },
    /// Counts that would add up to more than `u64::MAX` (a latency histogram's total); refused
    /// rather than saturated, which would give wrong quantiles and compliance.
    #[error("`{field}`: the counts add up to more than {} (u64::MAX)", u64::MAX)]
    CountOverflow {
        /// What overflowed: `counts` or `cumulative` (an input), `observations` (one more
        /// observation), `merge` (two histograms merged).
        field: String,
    },
    /// Two windowed counters cannot be merged because their bucket resolutions differ.
    #[error("cannot merge windowed counters with different resolutions ({left_ms} ms and {right_ms} ms)")]
    ResolutionMismatch {
        /// The resolution of the counter merged into, in milliseconds.
        left_ms: i64,
        /// The resolution of the counter merged from, in milliseconds.
        right_ms: i64,
    },
}
