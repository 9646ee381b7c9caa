//! [`GitHistory`]: delivery history from a local git repository, by running the `git` command.
//!
//! # Model
//! - **Deployments** are the release tags whose names match a [`TagPattern`] (by default
//!   `v1.2.3` or `1.2.3`, pre-releases such as `0.1.0-alpha.1` included in the pattern but
//!   left out unless [`GitOptions::include_prereleases`] is set). Each is a deployment of
//!   the service (the repository's directory name, or [`GitOptions::service`]) to
//!   `production` (or [`GitOptions::environment`]), with id = the tag name and commit = the
//!   tagged commit.
//! - **When**: for an annotated tag the tagger date (`%(creatordate)` of the tag object, when
//!   the release was cut); for a lightweight tag, which has no date of its own, the
//!   committer date of the tagged commit. Releases are ordered by that time (ties: by
//!   version, then name).
//! - **What a release ships** (`Deployment::commits`): `git rev-list previous..tag`, where
//!   `previous` is the release before it in that order; for the first release, all its
//!   ancestors. At most [`GitOptions::max_commits_per_release`] are listed (the newest): a
//!   repository that adopted tags late would otherwise make its first release carry years
//!   of history, whose "lead times" say nothing about delivery. Truncation is logged.
//! - **Changes**: those commits, with author and committer dates. A merge commit whose
//!   subject is `Merge pull request #N …` records pull request `N`; the commits it brought
//!   in (reachable from its second and later parents, not from the first-parent line of the
//!   release and not brought in by an earlier merge) get the same number and
//!   `merged_at` = the merge commit's committer date. A commit whose subject ends with
//!   `(#N)` (GitHub's squash and rebase merges) records `N` with `merged_at` = its own
//!   committer date. Pull requests merged into a pull request branch count as the outer one
//!   (that is when they reached the release branch).
//!
//! # Failure rules
//! Each rule that fires marks a release [`DeploymentOutcome::Failure`] and produces one
//! [`Incident`] (`deployment` = the failed release's tag, `opened_at` = its time,
//! `resolved_at` = the recovering release's time). A release hit by several rules or
//! reverts is one failed deployment with several incidents.
//!
//! 1. **Revert** (incident id `revert:<sha of the revert>`): a commit R reverts a commit C
//!    when its message has `This reverts commit <sha>` (what `git revert` writes; every such
//!    line counts) or, failing that, its subject is `Revert "S"` and C is the latest commit
//!    before R with subject `S`. If C first shipped in release D and R is not in D or an
//!    earlier release, D failed. Recovery is the first release containing R; a revert not
//!    yet released (reachable from [`GitOptions::head`] only) leaves the incident open.
//!    Limits: a fix that is not a `git revert` (a forward fix, a hand-written revert with
//!    another message) is not seen; a revert of a commit shipped before the first release
//!    read (see "Cost") is ignored; a subject match can pick the wrong commit when two
//!    commits share a subject; squash-merged reverts keep the message only if the squash
//!    kept it.
//! 2. **Patch release** (incident id `patch:<tag>`): release `X.Y.Z` followed by release
//!    `X.Y.(Z+1)` within [`GitOptions::patch_window`] (default 2 days) failed, recovered at
//!    the patch release. Versions are read from the end of the tag name
//!    (`…X.Y.Z[-pre][+build]`); pre-releases neither fail nor recover by this rule. Limits:
//!    a patch release for a new feature or a dependency bump counts as a failure, a fix
//!    shipped after the window or in a minor release does not, and the window is a guess
//!    about how quickly a project ships fixes.
//!
//! # Cost
//! Tags are read with one `git for-each-ref`. A [`Query`] then reads the commits of the
//! releases from the last successful release before `since` to the newest release (one
//! `git log` per release, plus one for the unreleased commits up to `head`): releases after
//! `until` are read because a later revert or patch release changes the outcome of a release
//! in the window. [`GitHistory::history`] reads every release.
//!
//! # Why the git command and not a library
//! `gix` pulls in well over a hundred crates and `git2` needs libgit2, a C build; both
//! re-implement git. The `git` program gives git's exact semantics (rev-list ranges,
//! replace refs, grafts, shallow clones, every object format) and is installed wherever a
//! repository is. It is run with an argv list (no shell), `git --no-pager -C <repo>`,
//! `LC_ALL=C`, no prompts, fixed `--format`s whose fields are separated by NUL or the ASCII
//! unit separator, and full object ids in ranges (never user text), so its output is
//! parsed exactly. A line that does not parse is an error naming the command and the line.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::PathBuf;
use std::process::Command;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use regex::Regex;

use super::memory::{check_query, select};
use super::{DeliverySource, Query};
use crate::error::DoraError;
use crate::model::{Change, DeliveryHistory, Deployment, DeploymentOutcome, Incident};

/// The default tag pattern: `v1.2.3`, `1.2.3`, and pre-releases such as `0.1.0-alpha.1`.
pub const DEFAULT_TAG_PATTERN: &str = r"^v?[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$";

/// Which tags are releases: a glob (as `git tag -l` reads it) or a regular expression.
#[derive(Clone)]
pub struct TagPattern {
    source: String,
    glob: bool,
    regex: Regex,
}

impl fmt::Debug for TagPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.glob { "glob" } else { "regex" };
        write!(f, "TagPattern({kind} {:?})", self.source)
    }
}

impl PartialEq for TagPattern {
    fn eq(&self, other: &Self) -> bool {
        self.glob == other.glob && self.source == other.source
    }
}

impl Default for TagPattern {
    /// [`DEFAULT_TAG_PATTERN`].
    fn default() -> Self {
        // expect: the constant is a valid regex; `tests::default_pattern` compiles it.
        #[allow(clippy::expect_used)]
        let regex = Regex::new(DEFAULT_TAG_PATTERN).expect("DEFAULT_TAG_PATTERN compiles");
        Self {
            source: DEFAULT_TAG_PATTERN.to_owned(),
            glob: false,
            regex,
        }
    }
}

impl TagPattern {
    /// A regular expression (Rust `regex` syntax), matched against the tag name without
    /// `refs/tags/`; anchor it with `^…$` to match whole names.
    ///
    /// # Errors
    /// [`DoraError::InvalidConfig`] naming `tag_pattern` when it does not compile.
    pub fn regex(pattern: &str) -> Result<Self, DoraError> {
        let regex = Regex::new(pattern).map_err(|e| DoraError::InvalidConfig {
            field: "tag_pattern".to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            source: pattern.to_owned(),
            glob: false,
            regex,
        })
    }

    /// A glob over the whole tag name: `*` any run of characters, `?` one character,
    /// `[abc]`, `[a-z]` and `[!abc]` classes, `\x` a literal `x` (as `git tag -l`).
    ///
    /// # Errors
    /// [`DoraError::InvalidConfig`] naming `tag_pattern` for an unclosed `[` class.
    pub fn glob(pattern: &str) -> Result<Self, DoraError> {
        let invalid = |reason: &str| DoraError::InvalidConfig {
            field: "tag_pattern".to_owned(),
            reason: format!("glob {pattern:?}: {reason}"),
        };
        let mut regex = String::from("^");
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' => regex.push_str(".*"),
                '?' => regex.push('.'),
                '\\' => match chars.next() {
                    Some(literal) => regex.push_str(&regex::escape(&literal.to_string())),
                    None => return Err(invalid("ends with a lone `\\`")),
                },
                '[' => {
                    let mut class = String::from("[");
                    if matches!(chars.peek(), Some('!' | '^')) {
                        chars.next();
                        class.push('^');
                    }
                    let mut closed = false;
                    let mut first = true;
                    for c in chars.by_ref() {
                        match c {
                            ']' if !first => {
                                closed = true;
                                break;
                            }
                            '\\' | '[' | '&' | '~' | '^' | ']' => {
                                class.push('\\');
                                class.push(c);
                            }
                            '-' => class.push('-'),
                            other => class.push(other),
                        }
                        first = false;
                    }
                    if !closed {
                        return Err(invalid("unclosed `[`"));
                    }
                    class.push(']');
                    regex.push_str(&class);
                }
                other => regex.push_str(&regex::escape(&other.to_string())),
            }
        }
        regex.push('$');
        let compiled = Regex::new(&regex).map_err(|e| invalid(&e.to_string()))?;
        Ok(Self {
            source: pattern.to_owned(),
            glob: true,
            regex: compiled,
        })
    }

    /// Whether `tag` (without `refs/tags/`) is a release tag.
    #[must_use]
    pub fn matches(&self, tag: &str) -> bool {
        self.regex.is_match(tag)
    }

    /// The pattern as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

/// Settings of a [`GitHistory`]; [`Default`] gives the documented defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct GitOptions {
    /// Which tags are releases ([`DEFAULT_TAG_PATTERN`]).
    pub tag_pattern: TagPattern,
    /// Whether pre-release tags (`1.2.3-rc.1`: a `-` suffix after the version) are
    /// deployments too (default `false`).
    pub include_prereleases: bool,
    /// The service name (default: the repository directory's name without `.git`).
    pub service: Option<String>,
    /// The environment releases go to (default `production`).
    pub environment: String,
    /// A release `X.Y.Z` followed by `X.Y.(Z+1)` within this long failed (default 2 days).
    pub patch_window: Duration,
    /// The branch or commit whose unreleased commits may hold reverts (default `HEAD`;
    /// `None` reads released commits only).
    pub head: Option<String>,
    /// At most this many commits are listed for one release, the newest (default 100,000).
    pub max_commits_per_release: usize,
}

impl Default for GitOptions {
    fn default() -> Self {
        Self {
            tag_pattern: TagPattern::default(),
            include_prereleases: false,
            service: None,
            environment: "production".to_owned(),
            patch_window: Duration::days(2),
            head: Some("HEAD".to_owned()),
            max_commits_per_release: 100_000,
        }
    }
}

/// A [`DeliverySource`] over a local git repository; see the module docs for the rules.
#[derive(Debug, Clone)]
pub struct GitHistory {
    repo: PathBuf,
    program: PathBuf,
    options: GitOptions,
}

/// A release tag, as read by `git for-each-ref`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Release {
    tag: String,
    commit: String,
    at: DateTime<Utc>,
    version: Option<Version>,
}

/// `X.Y.Z[-pre]` read from the end of a tag name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: Option<String>,
}

/// One commit, as read by `git log`.
#[derive(Debug, Clone)]
struct Commit {
    id: String,
    parents: Vec<String>,
    authored_at: DateTime<Utc>,
    committed_at: DateTime<Utc>,
    message: String,
}

impl Commit {
    fn subject(&self) -> &str {
        self.message.lines().next().unwrap_or("").trim_end()
    }
}

impl GitHistory {
    /// A source over the repository (work tree or bare) at `repo`, with default options.
    ///
    /// # Errors
    /// [`DoraError::InvalidConfig`] naming `repo` when the path is not a directory.
    pub fn new(repo: impl Into<PathBuf>) -> Result<Self, DoraError> {
        let repo = repo.into();
        if !repo.is_dir() {
            return Err(DoraError::InvalidConfig {
                field: "repo".to_owned(),
                reason: format!("{} is not a directory", repo.display()),
            });
        }
        Ok(Self {
            repo,
            program: PathBuf::from("git"),
            options: GitOptions::default(),
        })
    }

    /// Use these options.
    ///
    /// # Errors
    /// [`DoraError::InvalidConfig`] naming `environment`, `patch_window`, `head` or
    /// `max_commits_per_release` when one is empty, negative, zero or starts with `-`.
    pub fn with_options(mut self, options: GitOptions) -> Result<Self, DoraError> {
        let invalid = |field: &str, reason: &str| DoraError::InvalidConfig {
            field: field.to_owned(),
            reason: reason.to_owned(),
        };
        if options.environment.trim().is_empty() {
            return Err(invalid("environment", "must not be empty"));
        }
        if options.patch_window < Duration::zero() {
            return Err(invalid("patch_window", "must not be negative"));
        }
        if options.max_commits_per_release == 0 {
            return Err(invalid("max_commits_per_release", "must be at least 1"));
        }
        if let Some(head) = &options.head {
            if head.trim().is_empty() || head.starts_with('-') {
                return Err(invalid(
                    "head",
                    "must be a revision, not empty or an option",
                ));
            }
        }
        if options
            .service
            .as_deref()
            .is_some_and(|s| s.trim().is_empty())
        {
            return Err(invalid("service", "must not be empty"));
        }
        self.options = options;
        Ok(self)
    }

    /// Run this `git` executable instead of the one on `PATH`.
    #[must_use]
    pub fn with_git_program(mut self, program: impl Into<PathBuf>) -> Self {
        self.program = program.into();
        self
    }

    /// The options in use.
    #[must_use]
    pub fn options(&self) -> &GitOptions {
        &self.options
    }

    /// The service name deployments carry.
    #[must_use]
    pub fn service(&self) -> String {
        if let Some(service) = &self.options.service {
            return service.clone();
        }
        let path = self
            .repo
            .canonicalize()
            .unwrap_or_else(|_| self.repo.clone());
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = name.strip_suffix(".git").unwrap_or(&name).to_owned();
        if name.is_empty() {
            "repository".to_owned()
        } else {
            name
        }
    }

    /// The whole history: every release, its commits, changes and inferred incidents,
    /// without the query's selection. Blocking (runs `git`).
    ///
    /// # Errors
    /// [`DoraError::Git`] when `git` cannot run or fails, [`DoraError::GitOutput`] when its
    /// output does not parse.
    pub fn history(&self) -> Result<DeliveryHistory, DoraError> {
        let releases = self.releases()?;
        let shipped = (0..releases.len())
            .map(|index| self.release_commits(&releases, index))
            .collect::<Result<Vec<_>, _>>()?;
        let unreleased = self.unreleased_commits(&releases)?;
        Ok(self.build(&releases, 0, &shipped, &unreleased, &self.service()))
    }

    /// Collect for `query` (blocking; [`DeliverySource::collect`] runs this on the calling
    /// task, as `git` answers in milliseconds per release).
    ///
    /// # Errors
    /// As [`GitHistory::history`], and [`DoraError::InvalidConfig`] for an empty window.
    pub fn collect_blocking(&self, query: &Query) -> Result<DeliveryHistory, DoraError> {
        check_query(query)?;
        if query.environment != self.options.environment {
            return Ok(DeliveryHistory::default());
        }
        let releases = self.releases()?;
        // Start at the last release before `since`, then walk back while it failed (its
        // commits may ship in the window) — see the module docs, "Cost". Each release's
        // commits are read once: a step back reads only the release it adds.
        let mut start = releases
            .partition_point(|r| r.at < query.since)
            .saturating_sub(1);
        let mut shipped = (start..releases.len())
            .map(|index| self.release_commits(&releases, index))
            .collect::<Result<Vec<_>, _>>()?;
        let unreleased = self.unreleased_commits(&releases)?;
        let service = self.service();
        loop {
            let history = self.build(&releases, start, &shipped, &unreleased, &service);
            let start_failed = releases.get(start).is_some_and(|release| {
                history
                    .deployments
                    .iter()
                    .any(|d| d.id == release.tag && d.outcome != DeploymentOutcome::Success)
            });
            if start == 0 || !start_failed || releases[start].at >= query.since {
                return select(&history, query);
            }
            start -= 1;
            shipped.insert(0, self.release_commits(&releases, start)?);
        }
    }

    fn command_line(args: &[&str]) -> String {
        args.join(" ")
    }

    /// Run `git --no-pager -C <repo> <args>` and return its stdout.
    fn git(&self, args: &[&str]) -> Result<Vec<u8>, DoraError> {
        let command = Self::command_line(args);
        tracing::debug!(repo = %self.repo.display(), %command, "running git");
        let output = Command::new(&self.program)
            .arg("--no-pager")
            .arg("-C")
            .arg(&self.repo)
            .args(["-c", "log.showSignature=false", "-c", "core.quotepath=off"])
            .args(args)
            .env("LC_ALL", "C")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_OPTIONAL_LOCKS", "0")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .output()
            .map_err(|e| DoraError::Git {
                repo: self.repo.clone(),
                command: command.clone(),
                reason: format!("cannot run {}: {e}", self.program.display()),
            })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(DoraError::Git {
                repo: self.repo.clone(),
                command,
                reason: format!("{}: {}", output.status, tail.join(" | ")),
            });
        }
        Ok(output.stdout)
    }

    fn output_error(&self, command: &str, line: usize, reason: impl Into<String>) -> DoraError {
        DoraError::GitOutput {
            repo: self.repo.clone(),
            command: command.to_owned(),
            line,
            reason: reason.into(),
        }
    }

    /// Release tags, filtered and ordered by time.
    fn releases(&self) -> Result<Vec<Release>, DoraError> {
        // A shallow clone lacks the history before its cut: every release would seem to ship
        // only its last commits, and lead times would collapse to nothing.
        let shallow = self.git(&["rev-parse", "--is-shallow-repository"])?;
        if shallow.trim_ascii() == b"true" {
            return Err(DoraError::InvalidConfig {
                field: "git".to_owned(),
                reason: format!(
                    "{} is a shallow clone: its lead times would be wrong; run \
                     `git fetch --unshallow --tags` first",
                    self.repo.display()
                ),
            });
        }
        const FORMAT: &str = "--format=%(refname)%00%(objecttype)%00%(objectname)%00\
%(*objecttype)%00%(*objectname)%00%(creatordate:unix)";
        let args = ["for-each-ref", FORMAT, "refs/tags"];
        let command = Self::command_line(&args);
        let stdout = self.git(&args)?;
        let text = String::from_utf8(stdout)
            .map_err(|e| self.output_error(&command, 0, format!("output is not UTF-8: {e}")))?;
        let mut releases = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line_no = index + 1;
            let fields: Vec<&str> = line.split('\0').collect();
            let [refname, kind, object, peeled_kind, peeled, date] = fields[..] else {
                return Err(self.output_error(
                    &command,
                    line_no,
                    format!("expected 6 NUL-separated fields, got {}", fields.len()),
                ));
            };
            let Some(tag) = refname.strip_prefix("refs/tags/") else {
                return Err(self.output_error(&command, line_no, "not under refs/tags/"));
            };
            let commit = match (kind, peeled_kind) {
                ("commit", _) => object,
                ("tag", "commit") => peeled,
                _ => {
                    tracing::warn!(
                        tag,
                        kind,
                        peeled_kind,
                        "tag does not point at a commit; skipped"
                    );
                    continue;
                }
            };
            if !is_object_id(commit) {
                return Err(self.output_error(
                    &command,
                    line_no,
                    format!("{commit:?} is not an object id"),
                ));
            }
            if !self.options.tag_pattern.matches(tag) {
                continue;
            }
            let version = parse_version(tag);
            if !self.options.include_prereleases
                && version.as_ref().is_some_and(|v| v.pre.is_some())
            {
                continue;
            }
            let at = parse_unix(date).ok_or_else(|| {
                self.output_error(&command, line_no, format!("bad date {date:?}"))
            })?;
            releases.push(Release {
                tag: tag.to_owned(),
                commit: commit.to_owned(),
                at,
                version,
            });
        }
        releases.sort_by(|a, b| {
            a.at.cmp(&b.at)
                .then_with(|| a.version.cmp(&b.version))
                .then_with(|| a.tag.cmp(&b.tag))
        });
        Ok(releases)
    }

    /// `git log -z` of a range, parsed.
    fn log(&self, range: &[&str], max: Option<usize>) -> Result<Vec<Commit>, DoraError> {
        let max_arg = max.map(|m| format!("--max-count={m}"));
        let mut args = vec![
            "log",
            "-z",
            "--no-color",
            "--no-decorate",
            "--format=%H%x1f%P%x1f%at%x1f%ct%x1f%B",
        ];
        if let Some(max_arg) = &max_arg {
            args.push(max_arg);
        }
        // Revisions are full ids or the configured head; none is read as an option.
        args.push("--end-of-options");
        args.extend_from_slice(range);
        args.push("--");
        let command = Self::command_line(&args);
        let stdout = self.git(&args)?;
        let mut commits = Vec::new();
        for (index, record) in stdout.split(|b| *b == 0).enumerate() {
            if record.is_empty() {
                continue;
            }
            let record = String::from_utf8_lossy(record);
            let bad = |reason: String| self.output_error(&command, index + 1, reason);
            let mut fields = record.splitn(5, '\u{1f}');
            let (Some(id), Some(parents), Some(at), Some(ct), Some(message)) = (
                fields.next(),
                fields.next(),
                fields.next(),
                fields.next(),
                fields.next(),
            ) else {
                return Err(bad("expected 5 fields separated by U+001F".to_owned()));
            };
            let id = id.trim_start_matches('\n');
            if !is_object_id(id) {
                return Err(bad(format!("{id:?} is not a commit id")));
            }
            let parents: Vec<String> = parents
                .split(' ')
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect();
            if let Some(parent) = parents.iter().find(|p| !is_object_id(p)) {
                return Err(bad(format!("parent {parent:?} is not a commit id")));
            }
            let authored_at =
                parse_unix(at).ok_or_else(|| bad(format!("bad author date {at:?}")))?;
            let committed_at =
                parse_unix(ct).ok_or_else(|| bad(format!("bad committer date {ct:?}")))?;
            commits.push(Commit {
                id: id.to_owned(),
                parents,
                authored_at,
                committed_at,
                message: message.to_owned(),
            });
        }
        Ok(commits)
    }

    /// The commits `releases[index]` ships: `git rev-list previous..tag` (all its ancestors
    /// for the first release), the newest [`GitOptions::max_commits_per_release`].
    fn release_commits(
        &self,
        releases: &[Release],
        index: usize,
    ) -> Result<Vec<Commit>, DoraError> {
        let Some(release) = releases.get(index) else {
            return Ok(Vec::new());
        };
        let limit = self.options.max_commits_per_release;
        let exclude = index
            .checked_sub(1)
            .and_then(|p| releases.get(p))
            .map(|p| format!("^{}", p.commit));
        let mut range = vec![release.commit.as_str()];
        if let Some(exclude) = &exclude {
            range.push(exclude);
        }
        let mut commits = self.log(&range, Some(limit.saturating_add(1)))?;
        if commits.len() > limit {
            tracing::warn!(
                tag = %release.tag,
                limit,
                "release ships more commits than max_commits_per_release; the oldest are left out"
            );
            commits.truncate(limit);
        }
        Ok(commits)
    }

    /// The commits reachable from [`GitOptions::head`] and not from the newest release.
    fn unreleased_commits(&self, releases: &[Release]) -> Result<Vec<Commit>, DoraError> {
        match (&self.options.head, releases.last()) {
            (Some(head), Some(last)) => {
                let exclude = format!("^{}", last.commit);
                self.log(
                    &[head.as_str(), exclude.as_str()],
                    Some(self.options.max_commits_per_release),
                )
            }
            _ => Ok(Vec::new()),
        }
    }

    /// Build the history of `releases[start..]` (changes, failures) from the commits each
    /// ships (`shipped[i]` for `releases[start + i]`) and the `unreleased` ones.
    fn build(
        &self,
        releases: &[Release],
        start: usize,
        shipped: &[Vec<Commit>],
        unreleased: &[Commit],
        service: &str,
    ) -> DeliveryHistory {
        // Where each commit first shipped.
        let mut first_release: HashMap<String, usize> = HashMap::new();
        for (offset, commits) in shipped.iter().enumerate() {
            for commit in commits {
                first_release
                    .entry(commit.id.clone())
                    .or_insert(start + offset);
            }
        }

        let all: Vec<&Commit> = shipped.iter().flatten().chain(unreleased.iter()).collect();
        let by_id: HashMap<&str, &Commit> = all.iter().map(|c| (c.id.as_str(), *c)).collect();

        let mut incidents = Vec::new();
        let mut failed: HashSet<usize> = HashSet::new();
        self.revert_failures(
            releases,
            &all,
            &by_id,
            &first_release,
            &mut failed,
            &mut incidents,
        );
        self.patch_failures(releases, start, &mut failed, &mut incidents);

        let pull_requests = pull_requests(releases, start, shipped, &by_id);

        let mut deployments = Vec::new();
        let mut changes = Vec::new();
        let mut seen = HashSet::new();
        for (offset, commits) in shipped.iter().enumerate() {
            let index = start + offset;
            let Some(release) = releases.get(index) else {
                continue;
            };
            deployments.push(Deployment {
                id: release.tag.clone(),
                service: service.to_owned(),
                environment: self.options.environment.clone(),
                commit: release.commit.clone(),
                at: release.at,
                outcome: if failed.contains(&index) {
                    DeploymentOutcome::Failure
                } else {
                    DeploymentOutcome::Success
                },
                commits: commits.iter().map(|c| c.id.clone()).collect(),
            });
            for commit in commits {
                if !seen.insert(commit.id.as_str()) {
                    continue;
                }
                let pr = pull_requests.get(commit.id.as_str()).copied();
                changes.push(Change {
                    commit: commit.id.clone(),
                    authored_at: commit.authored_at,
                    committed_at: commit.committed_at,
                    pull_request: pr.map(|(n, _)| n),
                    merged_at: pr.map(|(_, at)| at),
                });
            }
        }
        let built: HashSet<&str> = deployments.iter().map(|d| d.id.as_str()).collect();
        incidents.retain(|i: &Incident| i.deployment.as_deref().is_some_and(|d| built.contains(d)));
        incidents.sort_by(|a, b| a.opened_at.cmp(&b.opened_at).then_with(|| a.id.cmp(&b.id)));
        DeliveryHistory {
            deployments,
            changes,
            incidents,
        }
    }

    /// Rule 1: reverts of commits that had shipped.
    fn revert_failures(
        &self,
        releases: &[Release],
        all: &[&Commit],
        by_id: &HashMap<&str, &Commit>,
        first_release: &HashMap<String, usize>,
        failed: &mut HashSet<usize>,
        incidents: &mut Vec<Incident>,
    ) {
        // Latest commit per subject, in committer-date order, to resolve `Revert "S"`.
        let mut by_subject: HashMap<&str, Vec<&Commit>> = HashMap::new();
        for commit in all {
            by_subject.entry(commit.subject()).or_default().push(commit);
        }
        for list in by_subject.values_mut() {
            list.sort_by_key(|c| c.committed_at);
        }
        for revert in all {
            let mut targets: Vec<&Commit> = reverted_ids(&revert.message)
                .iter()
                .filter_map(|id| resolve(by_id, id))
                .collect();
            if targets.is_empty() {
                if let Some(subject) = reverted_subject(revert.subject()) {
                    let candidate = by_subject.get(subject).and_then(|list| {
                        list.iter()
                            .rev()
                            .find(|c| c.id != revert.id && c.committed_at <= revert.committed_at)
                    });
                    targets.extend(candidate.copied());
                }
            }
            let recovered_in = first_release.get(&revert.id).copied();
            for target in targets {
                let Some(&shipped_in) = first_release.get(&target.id) else {
                    continue;
                };
                if recovered_in.is_some_and(|r| r <= shipped_in) {
                    continue;
                }
                let Some(release) = releases.get(shipped_in) else {
                    continue;
                };
                failed.insert(shipped_in);
                incidents.push(Incident {
                    id: format!("revert:{}", revert.id),
                    opened_at: release.at,
                    resolved_at: recovered_in.and_then(|r| releases.get(r)).map(|r| r.at),
                    deployment: Some(release.tag.clone()),
                });
                tracing::debug!(tag = %release.tag, revert = %revert.id, reverted = %target.id, "revert of a shipped commit");
            }
        }
    }

    /// Rule 2: `X.Y.Z` followed by `X.Y.(Z+1)` within the patch window.
    fn patch_failures(
        &self,
        releases: &[Release],
        start: usize,
        failed: &mut HashSet<usize>,
        incidents: &mut Vec<Incident>,
    ) {
        for (index, release) in releases.iter().enumerate().skip(start) {
            let Some(version) = release.version.as_ref().filter(|v| v.pre.is_none()) else {
                continue;
            };
            let Some(next_patch) = version.patch.checked_add(1) else {
                continue;
            };
            let patch = releases.iter().skip(index + 1).find(|later| {
                later.version.as_ref().is_some_and(|v| {
                    v.pre.is_none()
                        && v.major == version.major
                        && v.minor == version.minor
                        && v.patch == next_patch
                })
            });
            if let Some(patch) = patch {
                if patch.at - release.at <= self.options.patch_window {
                    failed.insert(index);
                    incidents.push(Incident {
                        id: format!("patch:{}", release.tag),
                        opened_at: release.at,
                        resolved_at: Some(patch.at),
                        deployment: Some(release.tag.clone()),
                    });
                }
            }
        }
    }
}

#[async_trait]
impl DeliverySource for GitHistory {
    async fn collect(&self, query: &Query) -> Result<DeliveryHistory, DoraError> {
        self.collect_blocking(query)
    }
}

/// Pull request number and merge time per commit (see the module docs).
fn pull_requests(
    releases: &[Release],
    start: usize,
    shipped: &[Vec<Commit>],
    by_id: &HashMap<&str, &Commit>,
) -> HashMap<String, (u64, DateTime<Utc>)> {
    let released: HashSet<&str> = shipped.iter().flatten().map(|c| c.id.as_str()).collect();
    // First-parent line of each release within its range, oldest first.
    let mut mainline: Vec<&Commit> = Vec::new();
    let mut on_mainline: HashSet<&str> = HashSet::new();
    for (offset, commits) in shipped.iter().enumerate() {
        let Some(release) = releases.get(start + offset) else {
            continue;
        };
        let in_range: HashSet<&str> = commits.iter().map(|c| c.id.as_str()).collect();
        let mut line = Vec::new();
        let mut cursor = Some(release.commit.as_str());
        while let Some(id) = cursor {
            if !in_range.contains(id) || on_mainline.contains(id) {
                break;
            }
            let Some(commit) = by_id.get(id) else { break };
            on_mainline.insert(id);
            line.push(*commit);
            cursor = commit.parents.first().map(String::as_str);
        }
        line.reverse();
        mainline.extend(line);
    }
    let mut result: HashMap<String, (u64, DateTime<Utc>)> = HashMap::new();
    let mut claimed: HashSet<&str> = HashSet::new();
    for merge in &mainline {
        let pr = if merge.parents.len() > 1 {
            merge_pull_request(merge.subject())
        } else {
            None
        };
        if let Some(number) = pr {
            result.insert(merge.id.clone(), (number, merge.committed_at));
        }
        let mut stack: Vec<&str> = merge.parents.iter().skip(1).map(String::as_str).collect();
        while let Some(id) = stack.pop() {
            if !released.contains(id) || on_mainline.contains(id) || !claimed.insert(id) {
                continue;
            }
            let Some(commit) = by_id.get(id) else {
                continue;
            };
            if let Some(number) = pr {
                result.insert(commit.id.clone(), (number, merge.committed_at));
            }
            stack.extend(commit.parents.iter().map(String::as_str));
        }
    }
    for commit in shipped.iter().flatten() {
        if result.contains_key(&commit.id) || commit.parents.len() > 1 {
            continue;
        }
        if let Some(number) = squash_pull_request(commit.subject()) {
            result.insert(commit.id.clone(), (number, commit.committed_at));
        }
    }
    result
}

/// `Merge pull request #123 from owner/branch` → 123.
fn merge_pull_request(subject: &str) -> Option<u64> {
    let rest = subject.strip_prefix("Merge pull request #")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let after = &rest[digits.len()..];
    if !(after.is_empty() || after.starts_with(' ')) {
        return None;
    }
    digits.parse().ok()
}

/// `Fix the thing (#123)` → 123.
fn squash_pull_request(subject: &str) -> Option<u64> {
    let inner = subject.trim_end().strip_suffix(')')?;
    let open = inner.rfind("(#")?;
    let digits = &inner[open + 2..];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Every `This reverts commit <sha>` in a message.
fn reverted_ids(message: &str) -> Vec<String> {
    const MARK: &str = "This reverts commit ";
    let mut ids = Vec::new();
    let mut rest = message;
    while let Some(pos) = rest.find(MARK) {
        rest = &rest[pos + MARK.len()..];
        let id: String = rest
            .chars()
            .take_while(char::is_ascii_hexdigit)
            .collect::<String>()
            .to_ascii_lowercase();
        if id.len() >= 7 {
            ids.push(id);
        }
    }
    ids
}

/// `Revert "S"` → `S`.
fn reverted_subject(subject: &str) -> Option<&str> {
    subject
        .strip_prefix("Revert \"")?
        .strip_suffix('"')
        .filter(|s| !s.is_empty())
}

/// A full id, or an abbreviation matching exactly one commit read.
fn resolve<'a>(by_id: &HashMap<&str, &'a Commit>, id: &str) -> Option<&'a Commit> {
    if let Some(commit) = by_id.get(id) {
        return Some(commit);
    }
    let mut found = by_id
        .iter()
        .filter(|(k, _)| k.starts_with(id))
        .map(|(_, c)| *c);
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

fn is_object_id(text: &str) -> bool {
    matches!(text.len(), 40 | 64) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

fn parse_unix(text: &str) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(text.trim().parse().ok()?, 0)
}

/// The `X.Y.Z[-pre][+build]` at the end of a tag name.
fn parse_version(tag: &str) -> Option<Version> {
    let without_build = tag.split_once('+').map_or(tag, |(v, _)| v);
    // The version starts at the first digit that begins `N.N.N`.
    for (start, _) in without_build
        .char_indices()
        .filter(|(_, c)| c.is_ascii_digit())
    {
        if start > 0
            && without_build[..start]
                .chars()
                .last()
                .is_some_and(|c| c.is_ascii_digit() || c == '.')
        {
            continue;
        }
        let candidate = &without_build[start..];
        let (core, pre) = match candidate.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (candidate, None),
        };
        let parts: Vec<&str> = core.split('.').collect();
        let [major, minor, patch] = parts[..] else {
            continue;
        };
        let number = |s: &str| -> Option<u64> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse().ok()
        };
        let (Some(major), Some(minor), Some(patch)) = (number(major), number(minor), number(patch))
        else {
            continue;
        };
        if pre.is_some_and(|p| {
            p.is_empty()
                || !p
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        }) {
            continue;
        }
        return Some(Version {
            major,
            minor,
            patch,
            pre: pre.map(str::to_owned),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_pattern() {
        let p = TagPattern::default();
        assert_eq!(p.as_str(), DEFAULT_TAG_PATTERN);
        for tag in [
            "v1.2.3",
            "1.2.3",
            "0.1.0-alpha.1",
            "v1.0.0-rc.5",
            "10.20.30",
        ] {
            assert!(p.matches(tag), "{tag}");
        }
        for tag in [
            "v1.2",
            "release-1.2.3",
            "1.2.3.4",
            "v1.2.3-",
            "latest",
            "1.2.3+b",
        ] {
            assert!(!p.matches(tag), "{tag}");
        }
    }

    #[test]
    fn globs() {
        let p = TagPattern::glob("v*").unwrap();
        assert!(p.matches("v1.2.3") && !p.matches("1.2.3"));
        let p = TagPattern::glob("release-[0-9].?").unwrap();
        assert!(p.matches("release-1.x") && !p.matches("release-a.x"));
        let p = TagPattern::glob("[!v]*").unwrap();
        assert!(p.matches("1.0") && !p.matches("v1.0"));
        let p = TagPattern::glob("a.b\\*").unwrap();
        assert!(p.matches("a.b*") && !p.matches("aXb*") && !p.matches("a.bc"));
        for bad in ["v[1", "x\\"] {
            let err = TagPattern::glob(bad).unwrap_err();
            assert!(
                matches!(err, DoraError::InvalidConfig { ref field, .. } if field == "tag_pattern")
            );
        }
        assert!(TagPattern::regex("(").is_err());
    }

    #[test]
    fn versions() {
        let v = |major, minor, patch, pre: Option<&str>| {
            Some(Version {
                major,
                minor,
                patch,
                pre: pre.map(str::to_owned),
            })
        };
        assert_eq!(parse_version("v1.2.3"), v(1, 2, 3, None));
        assert_eq!(parse_version("0.1.0-alpha.1"), v(0, 1, 0, Some("alpha.1")));
        assert_eq!(parse_version("release-10.0.7+build.5"), v(10, 0, 7, None));
        assert_eq!(parse_version("v1.2"), None);
        assert_eq!(parse_version("1.2.3.4"), None);
        assert_eq!(parse_version("latest"), None);
    }

    #[test]
    fn message_rules() {
        assert_eq!(
            merge_pull_request("Merge pull request #1950 from fluxcd/ci-ghcr"),
            Some(1950)
        );
        assert_eq!(merge_pull_request("Merge pull request #12x"), None);
        assert_eq!(merge_pull_request("Merge branch 'main'"), None);
        assert_eq!(squash_pull_request("Fix the probe (#42)"), Some(42));
        assert_eq!(squash_pull_request("Fix (#)"), None);
        assert_eq!(squash_pull_request("Fix #42"), None);
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            reverted_ids(&format!("Revert \"x\"\n\nThis reverts commit {sha}.\n")),
            [sha]
        );
        assert_eq!(
            reverted_ids("This reverts commit abc."),
            Vec::<String>::new()
        );
        assert_eq!(
            reverted_subject("Revert \"Use multi-stage build\""),
            Some("Use multi-stage build")
        );
        assert_eq!(reverted_subject("Revert changes"), None);
    }
}
