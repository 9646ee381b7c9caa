//! SLI sources: streaming readers that turn access logs and Workers trace events into
//! [`SliEvent`]s.
//!
//! # Design
//!
//! - **Streaming, flat memory.** Lines are read straight out of the `BufRead`'s buffer; a line
//!   is copied into one reusable `Vec<u8>` only when it straddles two buffer fills, and that
//!   vector is capped at [`ReadOptions::with_max_line_bytes`] (a file without newlines cannot
//!   make it grow without bound, which `BufRead::read_until` would). No `String` is allocated
//!   per line, and the whole file is never loaded: a multi-gigabyte log is read in the memory
//!   of its buffer.
//! - **Bytes, not text.** Both parsers work on `&[u8]`; non-UTF-8 bytes in a combined log line
//!   are simply not looked at, and a JSON line with invalid UTF-8 in a string is malformed.
//!   Nothing panics on any input.
//! - **Malformed lines are data, up to a point.** A line that does not parse is skipped,
//!   counted, and the first few (configurable, default 5) are kept in the [`ReadReport`] with
//!   their 1-based line number and a short reason. When the share of malformed lines over all
//!   non-blank lines passes [`ReadOptions::with_max_malformed_share`] (default 1 %), reading
//!   fails at the end with [`SloError::TooManyMalformedLines`], naming the input and the
//!   counts. A file in the wrong format fails fast instead of after gigabytes: once
//!   [`ReadOptions::with_early_check_after`] non-blank lines were read (default 10 000),
//!   reading stops if more than half of them (or the configured share, if larger) are
//!   malformed. The early check only catches a wrong format: 150 garbage lines followed by
//!   100 000 good ones (0.15 %) pass.
//! - **Blank lines** (empty, or only whitespace) are neither events nor malformed: they are
//!   counted in [`ReadReport::blank`] and left out of the malformed share. A trailing newline,
//!   a CRLF file or padding from log rotation is not corruption.
//! - **What is bad** is a policy, [`BadRequestRule`]: by default a status ≥ 500 or a Workers
//!   outcome other than `ok`; it can also count e.g. 429, or only a list of statuses.
//!
//! # Example
//!
//! ```
//! use parky_slo::source::{LogFormat, ReadOptions, SliReader};
//!
//! # fn main() -> Result<(), parky_slo::error::SloError> {
//! let log = b"198.18.0.1 - - [17/May/2015:10:05:03 +0000] \"GET / HTTP/1.1\" 503 12 \"-\" \"curl\"\n\
//!             198.18.0.1 - - [17/May/2015:10:05:04 +0000] \"GET / HTTP/1.1\" 200 12 \"-\" \"curl\"\n";
//! let mut bad = 0;
//! let report = SliReader::new(&log[..], LogFormat::Combined, ReadOptions::default())
//!     .for_each_event(|event| bad += u32::from(!event.good))?;
//! assert_eq!((report.events, bad), (2, 1));
//! # Ok(())
//! # }
//! ```

pub mod combined;
mod workers;

use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::SloError;
use crate::model::SliEvent;

use self::combined::CombinedParser;
use self::workers::TraceEvent;

/// The buffer size used by [`open_log_file`]: large enough that few lines straddle two
/// buffer fills (those are the only lines that get copied).
const FILE_BUFFER_BYTES: usize = 256 * 1024;

/// The longest excerpt of a malformed line kept in a [`MalformedLine`].
const EXCERPT_BYTES: usize = 160;

/// The early check fails an input when more than this share of its first
/// `early_check_after` non-blank lines is malformed (or the configured share, if larger).
const EARLY_MAX_SHARE: f64 = 0.5;

/// The format of an SLI input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// Apache/Nginx combined access log, with Nginx's optional trailing `$request_time`
    /// (see [`combined`]). Parsed from and displayed as `combined`.
    Combined,
    /// JSON lines of Cloudflare Workers trace events (Logpush `workers_trace_events` or a
    /// Tail Worker's `TraceItem`s). Parsed from and displayed as `workers-jsonl`.
    WorkersJsonl,
}

impl LogFormat {
    /// The name used on the command line: `combined` or `workers-jsonl`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Combined => "combined",
            Self::WorkersJsonl => "workers-jsonl",
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LogFormat {
    type Err = SloError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "combined" => Ok(Self::Combined),
            "workers-jsonl" => Ok(Self::WorkersJsonl),
            other => Err(SloError::InvalidConfig {
                field: "format".to_owned(),
                reason: format!(
                    "unknown log format `{other}`; expected `combined` or `workers-jsonl`"
                ),
            }),
        }
    }
}

/// Decides which requests count as bad for an availability SLI.
///
/// A request is bad when its status is bad, or (for Workers trace events) when its outcome is
/// not one of the good outcomes. The default is the usual availability SLI: status ≥ 500, or
/// any outcome other than `ok`; [`BadRequestRule::from_status`] moves the lower bound.
///
/// ```
/// use parky_slo::source::BadRequestRule;
///
/// let rule = BadRequestRule::default().also_bad_status(429);
/// assert!(rule.is_bad_status(429) && rule.is_bad_status(503) && !rule.is_bad_status(404));
/// let listed = BadRequestRule::only_statuses([502, 503, 504]);
/// assert!(!listed.is_bad_status(500) && listed.is_bad_status(503));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequestRule {
    bad_from: Option<u16>,
    bad_statuses: Vec<u16>,
    good_outcomes: Option<Vec<String>>,
}

impl Default for BadRequestRule {
    fn default() -> Self {
        Self::server_errors()
    }
}

impl BadRequestRule {
    /// Status ≥ 500 is bad, and any Workers outcome other than `ok` (the default).
    pub fn server_errors() -> Self {
        Self {
            bad_from: Some(500),
            bad_statuses: Vec::new(),
            good_outcomes: Some(vec!["ok".to_owned()]),
        }
    }

    /// Every status ≥ `min` is bad, with no upper bound (600 or 999 stay bad, as with the
    /// default), plus any Workers outcome other than `ok`, as the default rule. `from_status(500)`
    /// is the default; `from_status(400)` also counts client errors.
    pub fn from_status(min: u16) -> Self {
        Self {
            bad_from: Some(min),
            bad_statuses: Vec::new(),
            good_outcomes: Some(vec!["ok".to_owned()]),
        }
    }

    /// Only the listed statuses are bad (plus any Workers outcome other than `ok`).
    pub fn only_statuses(statuses: impl IntoIterator<Item = u16>) -> Self {
        let mut bad_statuses: Vec<u16> = statuses.into_iter().collect();
        bad_statuses.sort_unstable();
        bad_statuses.dedup();
        Self {
            bad_from: None,
            bad_statuses,
            good_outcomes: Some(vec!["ok".to_owned()]),
        }
    }

    /// Also counts `status` as bad (e.g. 429 when throttling is the service's fault).
    #[must_use]
    pub fn also_bad_status(mut self, status: u16) -> Self {
        if let Err(at) = self.bad_statuses.binary_search(&status) {
            self.bad_statuses.insert(at, status);
        }
        self
    }

    /// Also counts the Workers `outcome` as good (e.g. `canceled`, when clients hanging up
    /// should not burn the budget).
    #[must_use]
    pub fn also_good_outcome(mut self, outcome: impl Into<String>) -> Self {
        let outcome = outcome.into();
        let good = self.good_outcomes.get_or_insert_with(Vec::new);
        if !good.contains(&outcome) {
            good.push(outcome);
        }
        self
    }

    /// Ignores Workers outcomes: only the status decides (an event without a status is good).
    #[must_use]
    pub fn ignore_outcomes(mut self) -> Self {
        self.good_outcomes = None;
        self
    }

    /// Whether this status makes a request bad.
    pub fn is_bad_status(&self, status: u16) -> bool {
        self.bad_from.is_some_and(|from| status >= from)
            || self.bad_statuses.binary_search(&status).is_ok()
    }

    /// Whether this Workers outcome makes a request bad.
    pub fn is_bad_outcome(&self, outcome: &str) -> bool {
        self.good_outcomes
            .as_ref()
            .is_some_and(|good| !good.iter().any(|g| g == outcome))
    }

    /// Whether a request with this status and outcome (each optional) is good.
    pub fn is_good(&self, status: Option<u16>, outcome: Option<&str>) -> bool {
        !(status.is_some_and(|s| self.is_bad_status(s))
            || outcome.is_some_and(|o| self.is_bad_outcome(o)))
    }
}

/// How to read an SLI input. Built from [`ReadOptions::default`] with `with_*` methods; the
/// fallible ones refuse values that make no sense, so invalid options cannot exist.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadOptions {
    rule: BadRequestRule,
    script_name: Option<String>,
    keep_malformed: usize,
    max_malformed_share: f64,
    early_check_after: u64,
    max_line_bytes: usize,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            rule: BadRequestRule::default(),
            script_name: None,
            keep_malformed: 5,
            max_malformed_share: 0.01,
            early_check_after: 10_000,
            max_line_bytes: 64 * 1024,
        }
    }
}

impl ReadOptions {
    /// Uses `rule` to decide which requests are bad (default [`BadRequestRule::server_errors`]).
    #[must_use]
    pub fn with_bad_request_rule(mut self, rule: BadRequestRule) -> Self {
        self.rule = rule;
        self
    }

    /// Keeps only Workers trace events of this script; the others are counted in
    /// [`ReadReport::filtered`]. No effect on access logs.
    #[must_use]
    pub fn with_script_name(mut self, script_name: impl Into<String>) -> Self {
        self.script_name = Some(script_name.into());
        self
    }

    /// Keeps the first `count` malformed lines in the report (default 5).
    #[must_use]
    pub fn with_keep_malformed(mut self, count: usize) -> Self {
        self.keep_malformed = count;
        self
    }

    /// Fails reading when more than this share (0..=1) of all non-blank lines is malformed
    /// (default 0.01), checked at the end of the input. `0.0` refuses any malformed line;
    /// `1.0` never fails. A share above one half also raises the bar of the early check
    /// ([`ReadOptions::with_early_check_after`]).
    ///
    /// # Errors
    ///
    /// [`SloError::InvalidConfig`] when `share` is NaN or outside 0..=1.
    pub fn with_max_malformed_share(mut self, share: f64) -> Result<Self, SloError> {
        if !(0.0..=1.0).contains(&share) {
            return Err(SloError::InvalidConfig {
                field: "max_malformed_share".to_owned(),
                reason: format!("{share} is not a share between 0 and 1"),
            });
        }
        self.max_malformed_share = share;
        Ok(self)
    }

    /// Checks for a wrong format once this many non-blank lines were read (default 10 000):
    /// reading fails there if more than half of them (or the configured
    /// [`ReadOptions::with_max_malformed_share`], if larger) are malformed, so a file in the
    /// wrong format fails fast. A smaller share of malformed lines at the start is left to the
    /// check at the end, over all non-blank lines.
    #[must_use]
    pub fn with_early_check_after(mut self, lines: u64) -> Self {
        self.early_check_after = lines;
        self
    }

    /// Lines longer than this are malformed (`line too long`) and are skipped without being
    /// held in memory (default 64 KiB).
    ///
    /// # Errors
    ///
    /// [`SloError::InvalidConfig`] when `bytes` is 0.
    pub fn with_max_line_bytes(mut self, bytes: usize) -> Result<Self, SloError> {
        if bytes == 0 {
            return Err(SloError::InvalidConfig {
                field: "max_line_bytes".to_owned(),
                reason: "a line must be allowed at least one byte".to_owned(),
            });
        }
        self.max_line_bytes = bytes;
        Ok(self)
    }

    /// The rule deciding which requests are bad.
    pub fn bad_request_rule(&self) -> &BadRequestRule {
        &self.rule
    }

    /// The maximum share of malformed lines.
    pub fn max_malformed_share(&self) -> f64 {
        self.max_malformed_share
    }
}

/// A line that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MalformedLine {
    /// 1-based line number in the input.
    pub line: u64,
    /// Why it was refused, in a few words.
    pub reason: String,
    /// The start of the line (at most 160 bytes, invalid UTF-8 replaced by `�`).
    pub excerpt: String,
}

/// What reading an input found. Returned by [`SliReader::for_each_event`] and
/// [`read_log_file`], and available from [`SliReader::report`] while iterating.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReadReport {
    /// Lines read, blank ones included (the last line number).
    pub lines: u64,
    /// Empty or whitespace-only lines (skipped, not malformed).
    pub blank: u64,
    /// Events produced.
    pub events: u64,
    /// Events that were good.
    pub good: u64,
    /// Events that were bad.
    pub bad: u64,
    /// Well-formed lines left out by a filter (another Workers script).
    pub filtered: u64,
    /// Lines that could not be parsed.
    pub malformed: u64,
    /// The first malformed lines (how many is [`ReadOptions::with_keep_malformed`]).
    pub first_malformed: Vec<MalformedLine>,
    /// The earliest event timestamp, in ms since the epoch.
    pub min_timestamp_ms: Option<i64>,
    /// The latest event timestamp, in ms since the epoch.
    pub max_timestamp_ms: Option<i64>,
}

impl ReadReport {
    /// Non-blank lines read: the denominator of the malformed share.
    pub fn non_blank_lines(&self) -> u64 {
        self.lines - self.blank
    }

    fn record(&mut self, event: &SliEvent) {
        self.events += 1;
        if event.good {
            self.good += 1;
        } else {
            self.bad += 1;
        }
        let ts = event.timestamp_ms;
        self.min_timestamp_ms = Some(self.min_timestamp_ms.map_or(ts, |m| m.min(ts)));
        self.max_timestamp_ms = Some(self.max_timestamp_ms.map_or(ts, |m| m.max(ts)));
    }
}

/// A streaming reader of SLI events from a `BufRead`.
///
/// Use it as an `Iterator<Item = Result<SliEvent, SloError>>` (the iteration ends after the
/// first error; [`SliReader::report`] then tells what was read), or call
/// [`SliReader::for_each_event`], which is a little faster and returns the [`ReadReport`].
pub struct SliReader<R> {
    lines: LineReader<R>,
    format: LogFormat,
    options: ReadOptions,
    input: String,
    combined: CombinedParser,
    report: ReadReport,
    done: bool,
}

impl<R> fmt::Debug for SliReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SliReader")
            .field("input", &self.input)
            .field("format", &self.format)
            .field("options", &self.options)
            .field("report", &self.report)
            .finish_non_exhaustive()
    }
}

/// What became of one line.
enum LineOutcome {
    Event(SliEvent),
    Blank,
    Filtered,
    Malformed {
        reason: Cow<'static, str>,
        excerpt: Option<String>,
    },
}

/// One step of the reader.
enum Step {
    Event(SliEvent),
    Skipped,
    End,
}

impl<R: BufRead> SliReader<R> {
    /// A reader of `format` lines from `reader`. Errors name the input `<input>` until
    /// [`SliReader::with_input_name`] says otherwise.
    pub fn new(reader: R, format: LogFormat, options: ReadOptions) -> Self {
        Self {
            lines: LineReader {
                reader,
                buf: Vec::new(),
                max_line_bytes: options.max_line_bytes,
            },
            format,
            options,
            input: "<input>".to_owned(),
            combined: CombinedParser::new(),
            report: ReadReport::default(),
            done: false,
        }
    }

    /// Names the input (a path, `<stdin>`) in errors and logs.
    #[must_use]
    pub fn with_input_name(mut self, name: impl Into<String>) -> Self {
        self.input = name.into();
        self
    }

    /// What was read so far (everything, once the iteration has ended).
    pub fn report(&self) -> &ReadReport {
        &self.report
    }

    /// Takes the report, ending the reader.
    pub fn into_report(self) -> ReadReport {
        self.report
    }

    /// Reads the whole input, calling `on_event` for every event, and returns the report.
    ///
    /// # Errors
    ///
    /// [`SloError::ReadInput`] on an I/O error, [`SloError::TooManyMalformedLines`] when the
    /// malformed share is exceeded (early, or at the end).
    pub fn for_each_event(
        mut self,
        mut on_event: impl FnMut(SliEvent),
    ) -> Result<ReadReport, SloError> {
        if self.done {
            return Ok(self.report);
        }
        loop {
            match self.step()? {
                Step::Event(event) => on_event(event),
                Step::Skipped => {}
                Step::End => return Ok(self.report),
            }
        }
    }

    fn step(&mut self) -> Result<Step, SloError> {
        let Self {
            lines,
            format,
            options,
            input,
            combined,
            report,
            ..
        } = self;
        let line_number = report.lines + 1;
        let keep_excerpt = report.first_malformed.len() < options.keep_malformed;
        let outcome = lines
            .with_next_line(|line| match line {
                RawLine::Complete(line) => {
                    parse_line(*format, options, combined, line, keep_excerpt)
                }
                RawLine::TooLong(start) => LineOutcome::Malformed {
                    reason: Cow::Owned(format!(
                        "line too long (more than {} bytes)",
                        options.max_line_bytes
                    )),
                    excerpt: keep_excerpt.then(|| excerpt(start)),
                },
            })
            .map_err(|source| SloError::ReadInput {
                input: input.clone(),
                line: line_number,
                source,
            })?;
        let Some(outcome) = outcome else {
            self.check_malformed_share(self.options.max_malformed_share)?;
            if self.report.malformed > 0 {
                tracing::warn!(
                    input = %self.input,
                    malformed = self.report.malformed,
                    lines = self.report.lines,
                    "skipped malformed lines"
                );
            }
            return Ok(Step::End);
        };
        report.lines = line_number;
        match outcome {
            LineOutcome::Event(event) => {
                report.record(&event);
                self.early_check_at_threshold()?;
                Ok(Step::Event(event))
            }
            LineOutcome::Blank => {
                report.blank += 1;
                self.early_check_at_threshold()?;
                Ok(Step::Skipped)
            }
            LineOutcome::Filtered => {
                report.filtered += 1;
                self.early_check_at_threshold()?;
                Ok(Step::Skipped)
            }
            LineOutcome::Malformed { reason, excerpt } => {
                report.malformed += 1;
                tracing::debug!(input = %input, line = line_number, %reason, "malformed line");
                if let Some(excerpt) = excerpt {
                    report.first_malformed.push(MalformedLine {
                        line: line_number,
                        reason: reason.into_owned(),
                        excerpt,
                    });
                }
                self.early_check_at_threshold()?;
                Ok(Step::Skipped)
            }
        }
    }

    /// The early wrong-format check, made once: when the non-blank line count reaches
    /// `early_check_after` (blank lines after it repeat the same check, with the same result).
    #[inline]
    fn early_check_at_threshold(&self) -> Result<(), SloError> {
        if self.report.non_blank_lines() == self.options.early_check_after {
            self.check_malformed_share(self.options.max_malformed_share.max(EARLY_MAX_SHARE))?;
        }
        Ok(())
    }

    /// Fails when more than `max_share` of the non-blank lines read are malformed.
    fn check_malformed_share(&self, max_share: f64) -> Result<(), SloError> {
        let report = &self.report;
        let lines = report.non_blank_lines();
        // u64 → f64 loses precision only above 2^53 lines, far beyond any log.
        #[allow(clippy::cast_precision_loss)]
        let exceeded = report.malformed > 0 && report.malformed as f64 > max_share * lines as f64;
        if !exceeded {
            return Ok(());
        }
        let (first_line, first_reason) = report
            .first_malformed
            .first()
            .map_or((0, "not kept (keep_malformed is 0)".to_owned()), |m| {
                (m.line, m.reason.clone())
            });
        Err(SloError::TooManyMalformedLines {
            input: self.input.clone(),
            malformed: report.malformed,
            lines,
            max_share,
            first_line,
            first_reason,
        })
    }
}

impl<R: BufRead> Iterator for SliReader<R> {
    type Item = Result<SliEvent, SloError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            match self.step() {
                Ok(Step::Event(event)) => return Some(Ok(event)),
                Ok(Step::Skipped) => {}
                Ok(Step::End) => self.done = true,
                Err(error) => {
                    self.done = true;
                    return Some(Err(error));
                }
            }
        }
        None
    }
}

impl<R: BufRead> std::iter::FusedIterator for SliReader<R> {}

/// Opens `path` for streaming with a 256 KiB buffer; errors name the path.
///
/// # Errors
///
/// [`SloError::ReadInput`] (line 0, ``cannot open `path`: …``) when the file cannot be
/// opened.
pub fn open_log_file(
    path: impl AsRef<Path>,
    format: LogFormat,
    options: ReadOptions,
) -> Result<SliReader<BufReader<File>>, SloError> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let file = File::open(path).map_err(|source| SloError::ReadInput {
        input: name.clone(),
        line: 0,
        source,
    })?;
    let reader = BufReader::with_capacity(FILE_BUFFER_BYTES, file);
    Ok(SliReader::new(reader, format, options).with_input_name(name))
}

/// Reads the whole file at `path`, calling `on_event` for every event; errors name the path.
///
/// # Errors
///
/// As [`open_log_file`] and [`SliReader::for_each_event`].
pub fn read_log_file(
    path: impl AsRef<Path>,
    format: LogFormat,
    options: ReadOptions,
    on_event: impl FnMut(SliEvent),
) -> Result<ReadReport, SloError> {
    open_log_file(path, format, options)?.for_each_event(on_event)
}

fn parse_line(
    format: LogFormat,
    options: &ReadOptions,
    combined: &mut CombinedParser,
    line: &[u8],
    keep_excerpt: bool,
) -> LineOutcome {
    let line = combined::trim_end(line);
    if line.is_empty() {
        return LineOutcome::Blank;
    }
    let malformed = |reason: Cow<'static, str>| LineOutcome::Malformed {
        reason,
        excerpt: keep_excerpt.then(|| excerpt(line)),
    };
    match format {
        LogFormat::Combined => match combined.parse_line(line) {
            Ok(parsed) => LineOutcome::Event(SliEvent {
                timestamp_ms: parsed.timestamp_ms,
                good: !options.rule.is_bad_status(parsed.status),
                status: Some(parsed.status),
                latency_seconds: parsed.latency_seconds,
            }),
            Err(reason) => malformed(Cow::Borrowed(reason)),
        },
        LogFormat::WorkersJsonl => match TraceEvent::parse(line) {
            Ok(event) => {
                if let Some(wanted) = &options.script_name {
                    if event.script_name.as_deref() != Some(wanted.as_str()) {
                        return LineOutcome::Filtered;
                    }
                }
                let status = event.status();
                LineOutcome::Event(SliEvent {
                    timestamp_ms: event.event_timestamp_ms,
                    good: options.rule.is_good(status, event.outcome.as_deref()),
                    status,
                    latency_seconds: None,
                })
            }
            Err(reason) => malformed(reason),
        },
    }
}

fn excerpt(line: &[u8]) -> String {
    let cut = &line[..line.len().min(EXCERPT_BYTES)];
    String::from_utf8_lossy(cut).into_owned()
}

/// A line handed to the parser.
enum RawLine<'a> {
    /// The line without its `\n`.
    Complete(&'a [u8]),
    /// A line over the length limit: its first bytes.
    TooLong(&'a [u8]),
}

/// Splits a `BufRead` into lines without allocating per line (see the module docs).
struct LineReader<R> {
    reader: R,
    buf: Vec<u8>,
    max_line_bytes: usize,
}

impl<R: BufRead> LineReader<R> {
    /// Calls `f` with the next line, or returns `None` at the end of the input.
    fn with_next_line<T>(&mut self, f: impl FnOnce(RawLine<'_>) -> T) -> io::Result<Option<T>> {
        self.buf.clear();
        let mut too_long = false;
        loop {
            let available = match self.reader.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                // End of input: a last line without `\n`, or nothing.
                if self.buf.is_empty() && !too_long {
                    return Ok(None);
                }
                return Ok(Some(f(raw_line(&self.buf, too_long))));
            }
            match memchr::memchr(b'\n', available) {
                Some(end) if self.buf.is_empty() && !too_long => {
                    // Fast path: the whole line is in the reader's buffer; no copy.
                    let out = if end > self.max_line_bytes {
                        f(RawLine::TooLong(&available[..self.max_line_bytes]))
                    } else {
                        f(RawLine::Complete(&available[..end]))
                    };
                    self.reader.consume(end + 1);
                    return Ok(Some(out));
                }
                Some(end) => {
                    too_long |=
                        append_capped(&mut self.buf, &available[..end], self.max_line_bytes);
                    let out = f(raw_line(&self.buf, too_long));
                    self.reader.consume(end + 1);
                    return Ok(Some(out));
                }
                None => {
                    too_long |= append_capped(&mut self.buf, available, self.max_line_bytes);
                    let used = available.len();
                    self.reader.consume(used);
                }
            }
        }
    }
}

fn raw_line(buf: &[u8], too_long: bool) -> RawLine<'_> {
    if too_long {
        RawLine::TooLong(buf)
    } else {
        RawLine::Complete(buf)
    }
}

/// Appends `bytes` to `buf` without letting it grow past `max`; true when bytes were dropped.
fn append_capped(buf: &mut Vec<u8>, bytes: &[u8], max: usize) -> bool {
    let room = max.saturating_sub(buf.len());
    buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
    bytes.len() > room
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most `chunk` bytes per `fill_buf`, to exercise lines that
    /// straddle buffer fills.
    struct Chunked<'a> {
        data: &'a [u8],
        chunk: usize,
    }

    impl io::Read for Chunked<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.chunk.min(out.len()).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn lines_of(data: &[u8], chunk: usize, max: usize) -> Vec<Result<Vec<u8>, usize>> {
        let mut reader = LineReader {
            reader: BufReader::with_capacity(chunk, Chunked { data, chunk }),
            buf: Vec::new(),
            max_line_bytes: max,
        };
        let mut out = Vec::new();
        while let Some(line) = reader
            .with_next_line(|line| match line {
                RawLine::Complete(l) => Ok(l.to_vec()),
                RawLine::TooLong(l) => Err(l.len()),
            })
            .unwrap()
        {
            out.push(line);
        }
        out
    }

    #[test]
    fn splits_lines_across_buffer_fills() {
        let data = b"alpha\nbeta\n\ngamma-delta-epsilon\nlast";
        for chunk in 1..12 {
            let lines = lines_of(data, chunk, 100);
            let expected: Vec<Result<Vec<u8>, usize>> =
                ["alpha", "beta", "", "gamma-delta-epsilon", "last"]
                    .iter()
                    .map(|s| Ok(s.as_bytes().to_vec()))
                    .collect();
            assert_eq!(lines, expected, "chunk {chunk}");
        }
    }

    #[test]
    fn caps_long_lines() {
        let data = b"short\nthis-line-is-long\nok\nlong-last-line";
        for chunk in 1..30 {
            let lines = lines_of(data, chunk, 8);
            assert_eq!(
                lines,
                vec![Ok(b"short".to_vec()), Err(8), Ok(b"ok".to_vec()), Err(8)],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn format_names_round_trip() {
        for format in [LogFormat::Combined, LogFormat::WorkersJsonl] {
            assert_eq!(format.to_string().parse::<LogFormat>().unwrap(), format);
        }
        assert!("apache".parse::<LogFormat>().is_err());
    }

    #[test]
    fn options_refuse_nonsense() {
        assert!(ReadOptions::default()
            .with_max_malformed_share(f64::NAN)
            .is_err());
        assert!(ReadOptions::default()
            .with_max_malformed_share(1.5)
            .is_err());
        assert!(ReadOptions::default()
            .with_max_malformed_share(-0.1)
            .is_err());
        assert!(ReadOptions::default().with_max_line_bytes(0).is_err());
    }

    #[test]
    fn rule_variants() {
        let rule = BadRequestRule::default();
        assert!(rule.is_good(Some(200), Some("ok")));
        assert!(!rule.is_good(Some(200), Some("exception")));
        assert!(!rule.is_good(Some(500), None));
        assert!(rule.is_good(Some(429), None));
        assert!(!rule.clone().also_bad_status(429).is_good(Some(429), None));
        let lenient = rule.clone().also_good_outcome("canceled");
        assert!(lenient.is_good(None, Some("canceled")));
        assert!(!lenient.is_good(None, Some("exceededCpu")));
        assert!(rule.ignore_outcomes().is_good(None, Some("exception")));
    }

    #[test]
    fn from_status_has_no_upper_bound() {
        // ≥ 400 bad: 000 and 099 are below, 404, 500, 600 and 999 at or above.
        let rule = BadRequestRule::from_status(400);
        let bad: Vec<bool> = [0, 99, 404, 500, 600, 999]
            .into_iter()
            .map(|status| rule.is_bad_status(status))
            .collect();
        assert_eq!(bad, [false, false, true, true, true, true]);
        // ≥ 500: 404 turns good; 600 and 999 stay bad, as with the default.
        let rule = BadRequestRule::from_status(500);
        assert_eq!(rule, BadRequestRule::default());
        let bad: Vec<bool> = [0, 99, 404, 500, 600, 999]
            .into_iter()
            .map(|status| rule.is_bad_status(status))
            .collect();
        assert_eq!(bad, [false, false, false, true, true, true]);
        // Workers outcomes as the default: anything but `ok` is bad, whatever the status.
        let rule = BadRequestRule::from_status(400);
        assert!(rule.is_good(Some(200), Some("ok")));
        assert!(!rule.is_good(Some(200), Some("exception")));
        assert!(!rule.is_good(None, Some("canceled")));
        assert!(rule.is_good(None, None));
        // 0 makes every status bad.
        assert!(BadRequestRule::from_status(0).is_bad_status(0));
    }
}
