//! `GitHistory` on tiny repositories built here with fixed dates, and on the real Flagger
//! history (`PARKY_SHARED_DATA`).
#![cfg(feature = "git")]

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Duration, TimeZone, Utc};
use parky_dora::model::{Change, DeliveryHistory, DeploymentOutcome, Incident};
use parky_dora::source::git::{GitHistory, GitOptions, TagPattern};
use parky_dora::source::{DeliverySource, Query};
use parky_dora::DoraError;

/// `YYYY-MM-DD HH:00` UTC.
fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0)
        .single()
        .expect("valid date")
}

/// Run git isolated from the user's and system's configuration.
fn git(dir: &Path, args: &[&str], date: Option<DateTime<Utc>>) -> String {
    let mut command = Command::new("git");
    command
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=dev",
            "-c",
            "user.email=dev@example.invalid",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "tag.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("LC_ALL", "C");
    if let Some(date) = date {
        let raw = format!("@{} +0000", date.timestamp());
        command
            .env("GIT_AUTHOR_DATE", &raw)
            .env("GIT_COMMITTER_DATE", &raw);
    }
    let output = command.output().expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("shop")
            .tempdir()
            .expect("tempdir");
        git(dir.path(), &["init", "-q"], None);
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn git(&self, args: &[&str], date: Option<DateTime<Utc>>) -> String {
        git(self.path(), args, date)
    }

    /// A commit adding file `name`, authored at `authored` and committed at `committed`.
    fn commit(
        &self,
        name: &str,
        message: &str,
        authored: DateTime<Utc>,
        committed: DateTime<Utc>,
    ) -> String {
        std::fs::write(self.path().join(name), name).expect("write");
        self.git(&["add", name], None);
        let mut command = Command::new("git");
        command
            .arg("-C")
            .arg(self.path())
            .args([
                "-c",
                "user.name=dev",
                "-c",
                "user.email=dev@example.invalid",
            ])
            .args(["-c", "commit.gpgsign=false", "commit", "-q", "-m", message])
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env(
                "GIT_AUTHOR_DATE",
                format!("@{} +0000", authored.timestamp()),
            )
            .env(
                "GIT_COMMITTER_DATE",
                format!("@{} +0000", committed.timestamp()),
            );
        let output = command.output().expect("git commit runs");
        assert!(output.status.success(), "{output:?}");
        self.head()
    }

    fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"], None)
    }
}

struct Shop {
    repo: Repo,
    c: Vec<String>,
    f1: String,
    m1: String,
    c10: String,
}

/// The history every exact test below reads (dates UTC, 2024):
///
/// ```text
/// c1  init         01-01 00:00                         tag v1.0.0 (lightweight → 01-01 00:00)
/// c2  feature A    01-02                               
/// c3  feature B    01-03 (authored 01-02 12:00)        tag v1.1.0 (annotated, tagger 01-03 12:00)
/// c4  git revert c2  01-10                             tag v1.2.0 (01-10)
/// c5  fix          01-11                               tag v1.2.1 (01-11)
/// f1  on branch feat 01-15 (authored 01-14)
/// m1  Merge pull request #7 from dev/feat  01-16 (parents c5, f1)
/// c6  more         01-20                               tag v1.2.2-rc.1 (pre-release)
/// c7  more 2 (#9)  01-21                               tag v1.3.0 (01-21)
/// c8  feature C    02-01
/// c9  git revert c8  02-02                             tag v1.4.0 (02-02)
/// c10 git revert c7  03-01                             (unreleased, HEAD)
/// ```
fn shop() -> Shop {
    let repo = Repo::new();
    let mut c = vec![String::new()];
    c.push(repo.commit("c1", "init", at(2024, 1, 1, 0), at(2024, 1, 1, 0)));
    repo.git(&["tag", "v1.0.0"], None);
    c.push(repo.commit("c2", "feature A", at(2024, 1, 2, 0), at(2024, 1, 2, 0)));
    c.push(repo.commit("c3", "feature B", at(2024, 1, 2, 12), at(2024, 1, 3, 0)));
    repo.git(
        &["tag", "-a", "v1.1.0", "-m", "release 1.1.0"],
        Some(at(2024, 1, 3, 12)),
    );
    repo.git(&["revert", "--no-edit", &c[2]], Some(at(2024, 1, 10, 0)));
    c.push(repo.head());
    repo.git(&["tag", "v1.2.0"], None);
    c.push(repo.commit("c5", "fix", at(2024, 1, 11, 0), at(2024, 1, 11, 0)));
    repo.git(&["tag", "v1.2.1"], None);
    repo.git(&["checkout", "-q", "-b", "feat"], None);
    let f1 = repo.commit("f1", "feat work", at(2024, 1, 14, 0), at(2024, 1, 15, 0));
    repo.git(&["checkout", "-q", "main"], None);
    repo.git(
        &[
            "merge",
            "--no-ff",
            "-q",
            "-m",
            "Merge pull request #7 from dev/feat",
            "feat",
        ],
        Some(at(2024, 1, 16, 0)),
    );
    let m1 = repo.head();
    c.push(repo.commit("c6", "more", at(2024, 1, 20, 0), at(2024, 1, 20, 0)));
    repo.git(&["tag", "v1.2.2-rc.1"], None);
    c.push(repo.commit("c7", "more 2 (#9)", at(2024, 1, 21, 0), at(2024, 1, 21, 0)));
    repo.git(&["tag", "v1.3.0"], None);
    c.push(repo.commit("c8", "feature C", at(2024, 2, 1, 0), at(2024, 2, 1, 0)));
    repo.git(&["revert", "--no-edit", &c[8]], Some(at(2024, 2, 2, 0)));
    c.push(repo.head());
    repo.git(&["tag", "v1.4.0"], None);
    repo.git(&["revert", "--no-edit", &c[7]], Some(at(2024, 3, 1, 0)));
    let c10 = repo.head();
    // c[n] is commit cn (n = 1..=9); f1, m1 and c10 are kept apart.
    Shop {
        repo,
        c,
        f1,
        m1,
        c10,
    }
}

fn ids(history: &DeliveryHistory) -> Vec<(&str, DeploymentOutcome, usize)> {
    history
        .deployments
        .iter()
        .map(|d| (d.id.as_str(), d.outcome, d.commits.len()))
        .collect()
}

fn service_name(repo: &Repo) -> String {
    repo.path()
        .canonicalize()
        .expect("canonical path")
        .file_name()
        .expect("a name")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn releases_commits_and_failures() {
    use DeploymentOutcome::{Failure, Success};
    let shop = shop();
    let c = &shop.c;
    let source = GitHistory::new(shop.repo.path()).unwrap();
    let history = source.history().unwrap();

    // Deployments: six non-pre-release tags, in time order; commits = rev-list prev..tag
    // (v1.3.0 follows v1.2.1 because v1.2.2-rc.1 is excluded: f1, m1, c6, c7).
    assert_eq!(
        ids(&history),
        [
            ("v1.0.0", Success, 1),
            ("v1.1.0", Failure, 2),
            ("v1.2.0", Failure, 1),
            ("v1.2.1", Success, 1),
            ("v1.3.0", Failure, 4),
            ("v1.4.0", Success, 2),
        ]
    );
    let service = service_name(&shop.repo);
    for d in &history.deployments {
        assert_eq!(d.service, service);
        assert_eq!(d.environment, "production");
    }
    let d = |id: &str| {
        history
            .deployments
            .iter()
            .find(|d| d.id == id)
            .expect("deployment")
    };
    // Lightweight tag: the commit's committer date; annotated: the tagger date.
    assert_eq!(d("v1.0.0").at, at(2024, 1, 1, 0));
    assert_eq!(d("v1.1.0").at, at(2024, 1, 3, 12));
    assert_eq!(d("v1.1.0").commit, c[3]);
    assert_eq!(d("v1.1.0").commits, [c[3].clone(), c[2].clone()]);
    let mut v130 = d("v1.3.0").commits.clone();
    v130.sort();
    let mut expected = vec![shop.f1.clone(), shop.m1.clone(), c[6].clone(), c[7].clone()];
    expected.sort();
    assert_eq!(v130, expected);

    // Incidents:
    // - revert c4 of c2: c2 shipped in v1.1.0 (01-03 12:00), c4 first in v1.2.0 (01-10).
    // - patch: v1.2.0 (01-10 00:00) then v1.2.1 (01-11 00:00), 24 h <= 2 days.
    // - revert c10 of c7: c7 shipped in v1.3.0 (01-21), c10 unreleased → still open.
    // - c9 reverts c8 in the same release v1.4.0: no failure.
    // - v1.0.0 → v1.1.0, v1.1.0 → v1.2.0: minor releases, not patches.
    let expected_incidents = vec![
        Incident {
            id: format!("revert:{}", c[4]),
            opened_at: at(2024, 1, 3, 12),
            resolved_at: Some(at(2024, 1, 10, 0)),
            deployment: Some("v1.1.0".to_owned()),
        },
        Incident {
            id: "patch:v1.2.0".to_owned(),
            opened_at: at(2024, 1, 10, 0),
            resolved_at: Some(at(2024, 1, 11, 0)),
            deployment: Some("v1.2.0".to_owned()),
        },
        Incident {
            id: format!("revert:{}", shop.c10),
            opened_at: at(2024, 1, 21, 0),
            resolved_at: None,
            deployment: Some("v1.3.0".to_owned()),
        },
    ];
    assert_eq!(history.incidents, expected_incidents);

    // Changes: 11 released commits (c10 is unreleased), each once.
    assert_eq!(history.changes.len(), 11);
    let change = |id: &str| {
        history
            .changes
            .iter()
            .find(|ch| ch.commit == id)
            .cloned()
            .expect("change")
    };
    assert_eq!(
        change(&c[3]),
        Change {
            commit: c[3].clone(),
            authored_at: at(2024, 1, 2, 12),
            committed_at: at(2024, 1, 3, 0),
            pull_request: None,
            merged_at: None,
        }
    );
    // f1 came in through the merge of pull request #7 (committed 01-16).
    assert_eq!(
        change(&shop.f1),
        Change {
            commit: shop.f1.clone(),
            authored_at: at(2024, 1, 14, 0),
            committed_at: at(2024, 1, 15, 0),
            pull_request: Some(7),
            merged_at: Some(at(2024, 1, 16, 0)),
        }
    );
    assert_eq!(change(&shop.m1).pull_request, Some(7));
    assert_eq!(change(&shop.m1).merged_at, Some(at(2024, 1, 16, 0)));
    // c7's subject ends with "(#9)": a squash merge at its committer date.
    assert_eq!(change(&c[7]).pull_request, Some(9));
    assert_eq!(change(&c[7]).merged_at, Some(at(2024, 1, 21, 0)));
    assert_eq!(change(&c[6]).pull_request, None);
}

#[tokio::test]
async fn query_selects_the_window_and_the_chain_before_it() {
    let shop = shop();
    let source = GitHistory::new(shop.repo.path()).unwrap();
    let query = Query {
        since: at(2024, 1, 11, 0),
        until: at(2024, 1, 22, 0),
        environment: "production".to_owned(),
    };
    let got = source.collect(&query).await.unwrap();
    // In the window: v1.2.1 (01-11), v1.3.0 (01-21). Before it, back to the last success:
    // v1.2.0 (failed), v1.1.0 (failed), v1.0.0 (success).
    let names: Vec<&str> = got.deployments.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(names, ["v1.0.0", "v1.1.0", "v1.2.0", "v1.2.1", "v1.3.0"]);
    // Their commits: c1, c2, c3, c4, c5, f1, m1, c6, c7.
    assert_eq!(got.changes.len(), 9);
    // Only the incident opened in the window (v1.3.0's open revert) is kept.
    let incidents: Vec<&str> = got.incidents.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(incidents, [format!("revert:{}", shop.c10)]);

    // Another environment: nothing.
    let staging = Query {
        environment: "staging".to_owned(),
        ..query
    };
    assert_eq!(
        source.collect(&staging).await.unwrap(),
        DeliveryHistory::default()
    );
}

#[test]
fn options_prereleases_globs_patch_window_and_service() {
    let shop = shop();
    let options = GitOptions {
        include_prereleases: true,
        patch_window: Duration::hours(12),
        service: Some("shop".to_owned()),
        head: None,
        ..GitOptions::default()
    };
    let source = GitHistory::new(shop.repo.path())
        .unwrap()
        .with_options(options)
        .unwrap();
    let history = source.history().unwrap();
    // The rc is a deployment now: v1.2.2-rc.1 ships f1, m1, c6; v1.3.0 only c7.
    let got: Vec<(&str, usize)> = history
        .deployments
        .iter()
        .map(|d| (d.id.as_str(), d.commits.len()))
        .collect();
    assert_eq!(
        got,
        [
            ("v1.0.0", 1),
            ("v1.1.0", 2),
            ("v1.2.0", 1),
            ("v1.2.1", 1),
            ("v1.2.2-rc.1", 3),
            ("v1.3.0", 1),
            ("v1.4.0", 2)
        ]
    );
    assert!(history.deployments.iter().all(|d| d.service == "shop"));
    // A 12 h patch window misses v1.2.0 → v1.2.1 (24 h); without `head` the unreleased
    // revert of c7 is not read. Only the revert of c2 remains.
    let incidents: Vec<&str> = history.incidents.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(incidents, [format!("revert:{}", shop.c[4])]);

    let glob = GitHistory::new(shop.repo.path())
        .unwrap()
        .with_options(GitOptions {
            tag_pattern: TagPattern::glob("v1.2.*").unwrap(),
            ..GitOptions::default()
        })
        .unwrap();
    let names: Vec<String> = glob
        .history()
        .unwrap()
        .deployments
        .into_iter()
        .map(|d| d.id)
        .collect();
    // v1.2.2-rc.1 matches the glob but is a pre-release.
    assert_eq!(names, ["v1.2.0", "v1.2.1"]);
}

#[test]
fn revert_by_subject_only() {
    // A hand-written revert without "This reverts commit": matched by subject.
    let repo = Repo::new();
    repo.commit("a", "base", at(2024, 5, 1, 0), at(2024, 5, 1, 0));
    let x = repo.commit("x", "feature X", at(2024, 5, 2, 0), at(2024, 5, 2, 0));
    repo.git(&["tag", "0.1.0"], None);
    let r = repo.commit(
        "r",
        "Revert \"feature X\"",
        at(2024, 5, 9, 0),
        at(2024, 5, 9, 0),
    );
    repo.git(&["tag", "0.2.0"], None);
    let history = GitHistory::new(repo.path()).unwrap().history().unwrap();
    assert_eq!(
        history.incidents,
        [Incident {
            id: format!("revert:{r}"),
            opened_at: at(2024, 5, 2, 0),
            resolved_at: Some(at(2024, 5, 9, 0)),
            deployment: Some("0.1.0".to_owned()),
        }]
    );
    assert_eq!(history.deployments[0].commit, x);
    assert_eq!(history.deployments[0].outcome, DeploymentOutcome::Failure);
    assert_eq!(history.deployments[1].outcome, DeploymentOutcome::Success);
}

#[test]
fn errors_name_the_command() {
    let dir = tempfile::tempdir().unwrap();
    // Not a repository: git fails, the error names the first command run (the shallow-clone
    // check).
    let err = GitHistory::new(dir.path()).unwrap().history().unwrap_err();
    match &err {
        DoraError::Git { command, .. } => {
            assert!(
                command.starts_with("rev-parse --is-shallow-repository"),
                "{err}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    // A git that does not exist.
    let err = GitHistory::new(dir.path())
        .unwrap()
        .with_git_program("/nonexistent/git")
        .history()
        .unwrap_err();
    assert!(
        err.to_string().contains("cannot run /nonexistent/git"),
        "{err}"
    );
    // Not a directory; bad options name their field.
    let err = GitHistory::new(dir.path().join("missing")).unwrap_err();
    assert!(matches!(err, DoraError::InvalidConfig { ref field, .. } if field == "repo"));
    let err = GitHistory::new(dir.path())
        .unwrap()
        .with_options(GitOptions {
            head: Some("--output=/tmp/x".to_owned()),
            ..GitOptions::default()
        })
        .unwrap_err();
    assert!(matches!(err, DoraError::InvalidConfig { ref field, .. } if field == "head"));
    // An empty repository has no releases.
    git(dir.path(), &["init", "-q"], None);
    let empty = GitHistory::new(dir.path()).unwrap().history().unwrap();
    assert_eq!(empty, DeliveryHistory::default());
    // A shallow clone is refused: its releases would seem to ship only their last commits.
    git(
        dir.path(),
        &["commit", "-q", "--allow-empty", "-m", "one"],
        None,
    );
    git(
        dir.path(),
        &["commit", "-q", "--allow-empty", "-m", "two"],
        None,
    );
    let shallow = dir.path().join("shallow");
    let status = std::process::Command::new("git")
        .args(["clone", "-q", "--depth", "1"])
        .arg(format!("file://{}", dir.path().display()))
        .arg(&shallow)
        .status()
        .unwrap();
    assert!(status.success());
    let err = GitHistory::new(&shallow).unwrap().history().unwrap_err();
    assert!(
        matches!(&err, DoraError::InvalidConfig { field, reason } if field == "git" && reason.contains("shallow clone")),
        "{err}"
    );
}

/// `sh -c` in `dir`, stdout trimmed.
fn sh(dir: &Path, script: &str) -> String {
    let output = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env("LC_ALL", "C")
        .output()
        .expect("sh runs");
    assert!(output.status.success(), "{script}: {output:?}");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn shared_data() -> PathBuf {
    let Some(dir) = std::env::var_os("PARKY_SHARED_DATA") else {
        panic!(
            "PARKY_SHARED_DATA is not set: point it at the shared data folder \
             (e.g. PARKY_SHARED_DATA=../shared/data) to run this test"
        );
    };
    PathBuf::from(dir)
}

#[test]
#[ignore = "needs PARKY_SHARED_DATA"]
fn flagger_history() {
    let bundle = shared_data().join("git/flagger-history.bundle");
    assert!(bundle.is_file(), "{} is missing", bundle.display());
    let work = tempfile::tempdir().unwrap();
    let clone = work.path().join("flagger");
    let output = Command::new("git")
        .arg("clone")
        .arg("-q")
        .arg(&bundle)
        .arg(&clone)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");

    let history = GitHistory::new(&clone).unwrap().history().unwrap();

    // Deployments = release tags without a pre-release suffix.
    let tags: usize = sh(
        &clone,
        "git tag -l | grep -E '^v?[0-9]+\\.[0-9]+\\.[0-9]+$' | wc -l",
    )
    .parse()
    .unwrap();
    assert_eq!(tags, 100);
    assert_eq!(history.deployments.len(), tags);
    assert!(history.deployments.iter().all(|d| d.service == "flagger"));

    // Changes = the commits reachable from any of those tags.
    let changes: usize = sh(
        &clone,
        "git rev-list $(git tag -l | grep -E '^v?[0-9]+\\.[0-9]+\\.[0-9]+$') | sort -u | wc -l",
    )
    .parse()
    .unwrap();
    assert_eq!(history.changes.len(), changes);
    println!("deployments {tags}, changes {changes}");

    // The commits of each release = git rev-list previous..tag, for a few of them (the
    // previous tag in time order, taken from git's own creatordate sort).
    for (previous, tag) in [
        ("v1.43.0", "v1.44.0"),
        ("v1.0.1", "v1.1.0"),
        ("0.23.0", "v1.0.0"),
    ] {
        let count: usize = sh(&clone, &format!("git rev-list --count {previous}..{tag}"))
            .parse()
            .unwrap();
        let deployment = history
            .deployments
            .iter()
            .find(|d| d.id == tag)
            .expect("tag");
        assert_eq!(deployment.commits.len(), count, "{previous}..{tag}");
        let index = history
            .deployments
            .iter()
            .position(|d| d.id == tag)
            .unwrap();
        assert_eq!(history.deployments[index - 1].id, previous);
        println!("{previous}..{tag}: {count} commits");
    }
    // The first release: all its ancestors.
    let first: usize = sh(&clone, "git rev-list --count 0.0.1").parse().unwrap();
    assert_eq!(history.deployments[0].id, "0.0.1");
    assert_eq!(history.deployments[0].commits.len(), first);

    // Failures: patch releases within 2 days. Re-derived with git: sort the plain X.Y.Z tags
    // by version, and print X.Y.Z → X.Y.(Z+1) pairs at most 172800 s apart.
    let pairs = sh(
        &clone,
        "git for-each-ref refs/tags --format='%(refname:short) %(creatordate:unix)' \
         | grep -E '^v?[0-9]+\\.[0-9]+\\.[0-9]+ ' | sed 's/^v//' | sort -V \
         | awk '{split($1,a,\".\"); k=a[1]\".\"a[2]; \
                if (k==pk && a[3]==pz+1 && $2-pt>=0 && $2-pt<=172800) print pk\".\"pz; \
                pk=k; pz=a[3]; pt=$2}'",
    );
    let mut expected: Vec<String> = pairs.lines().map(str::to_owned).collect();
    expected.sort();
    let mut failed: Vec<String> = history
        .deployments
        .iter()
        .filter(|d| d.outcome == DeploymentOutcome::Failure)
        .map(|d| d.id.trim_start_matches('v').to_owned())
        .collect();
    failed.sort();
    assert_eq!(failed, expected);
    assert_eq!(failed.len(), 7);
    // No revert counts: the only `Revert "…"` commit (8d2da3c) reverts 5141803, and both
    // first shipped in v1.0.0 (git tag --contains gives v1.0.0 as the oldest for each).
    let reverts = sh(&clone, "git log --format=%s | grep -c '^Revert \"'");
    assert_eq!(reverts, "1");
    assert!(history.incidents.iter().all(|i| i.id.starts_with("patch:")));
    assert_eq!(history.incidents.len(), 7);

    // Pull requests: every "Merge pull request #N" merge on the first-parent line of the
    // newest release records N and merged_at = its own committer date.
    let merges = sh(
        &clone,
        "git log --first-parent --merges --format='%H %ct %s' v1.44.0 | grep ' Merge pull request #'",
    );
    let mut checked = 0;
    for line in merges.lines() {
        let mut parts = line.splitn(3, ' ');
        let (sha, ct, subject) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let number: u64 = subject["Merge pull request #".len()..]
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let change = history
            .changes
            .iter()
            .find(|c| c.commit == sha)
            .expect("merge shipped");
        assert_eq!(change.pull_request, Some(number), "{line}");
        assert_eq!(
            change
                .merged_at
                .map(|t| t.timestamp().to_string())
                .as_deref(),
            Some(ct)
        );
        checked += 1;
    }
    let with_pr = history
        .changes
        .iter()
        .filter(|c| c.pull_request.is_some())
        .count();
    println!("first-parent pull request merges {checked}; changes with a pull request {with_pr}");

    // One by hand: 1.12.0 → 1.12.1.
    let dates = sh(
        &clone,
        "git log -1 --format='%cI' v1.12.0; git log -1 --format='%cI' v1.12.1",
    );
    println!("v1.12.0 and v1.12.1 committer dates:\n{dates}");
    let incident = history
        .incidents
        .iter()
        .find(|i| i.id == "patch:v1.12.0")
        .expect("v1.12.0 failed");
    let mut lines = dates.lines();
    let parse = |s: Option<&str>| {
        DateTime::parse_from_rfc3339(s.expect("a date"))
            .unwrap()
            .with_timezone(&Utc)
    };
    assert_eq!(incident.opened_at, parse(lines.next()));
    assert_eq!(incident.resolved_at, Some(parse(lines.next())));
    let hours = (incident.resolved_at.unwrap() - incident.opened_at).num_minutes() as f64 / 60.0;
    println!("v1.12.0 recovered after {hours:.1} h");
    assert!(hours <= 48.0);

    // A bounded query over 2023: the releases of 2023 plus the last one before it.
    let since = at(2023, 1, 1, 0);
    let until = at(2024, 1, 1, 0);
    let in_2023: usize = sh(
        &clone,
        &format!(
            "git for-each-ref refs/tags --format='%(refname:short) %(creatordate:unix)' \
             | grep -E '^v?[0-9]+\\.[0-9]+\\.[0-9]+ ' \
             | awk '$2 >= {} && $2 < {}' | wc -l",
            since.timestamp(),
            until.timestamp()
        ),
    )
    .parse()
    .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let source = GitHistory::new(&clone).unwrap();
    let got = runtime
        .block_on(source.collect(&Query {
            since,
            until,
            environment: "production".to_owned(),
        }))
        .unwrap();
    let in_window = got.deployments.iter().filter(|d| d.at >= since).count();
    assert_eq!(in_window, in_2023);
    println!("2023: {in_2023} releases");
}
