//! [`CommandDeployer`]: the real [`Deployer`] that runs each service's `deploy.command` and
//! `rollback.command` as child processes.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use parky_core::SecretString;

use super::config::{DeployPlan, DeployStep, ServiceSpec};
use super::execute::Deployer;
use crate::error::{CommandFailure, DeployError};
use crate::model::VersionId;

/// How much of a failed command's standard error is kept in the error: the last lines, at
/// most this many bytes.
pub const STDERR_TAIL_BYTES: usize = 2000;

/// What [`CommandDeployer::deploy`] reports as the version when the command's output names
/// none.
pub const UNREPORTED_VERSION: &str = "(version not reported)";

/// A [`Deployer`] that runs the plan's commands as child processes.
///
/// - **No shell.** `command` is an argv list: the first element is the program (looked up
///   in `PATH`), the rest are its arguments, passed as they are. Nothing is interpreted, so a
///   value with spaces, `;` or `$(…)` cannot inject a second command. A plan that wants a
///   shell says so explicitly: `command: [sh, -c, "npm ci && npx wrangler deploy"]`.
/// - **Working directory:** the step's `workdir`, relative to the base directory given to
///   [`CommandDeployer::new`] (the plan file's directory), or the base directory itself.
/// - **Environment:** inherited (the secrets the plan checked are environment variables the
///   command needs); standard input is closed.
/// - **Timeout:** the step's `timeout`. On Unix each command runs in its own process group,
///   and past the timeout the whole group is killed (`kill -KILL -- -<pgid>`: the command
///   and everything it started, e.g. `sh -c "sleep 30 & wrangler deploy"`), then reaped; the
///   step fails with [`CommandFailure::TimedOut`]. A process that left the group (`setsid`,
///   a daemon) is not reached. Elsewhere only the direct child is killed.
/// - **Secrets:** the values of the service's declared `secrets` (read from the
///   environment) are replaced by `[REDACTED]` in the output kept in errors and in the
///   reported version; [`CommandDeployer::redacting_secrets_of`] adds every secret of the
///   plan.
/// - **Errors** name the service, the operation (`deploy` or `rollback`) and the program,
///   and carry the exit status and the tail of standard error
///   ([`DeployError::ServiceCommand`]).
/// - **Version:** the deploy reports the id after the last `Version ID:` in the command's
///   standard output (wrangler prints `Current Version ID: <uuid>`), else
///   [`UNREPORTED_VERSION`].
/// - **Rollback** runs the service's `rollback.command`; a service without one fails its
///   rollback with [`DeployError::ServiceOperation`] naming the missing field, so the run
///   report says the service may still run the new version.
#[derive(Debug, Clone)]
pub struct CommandDeployer {
    base_dir: PathBuf,
    /// Values redacted from every command's output, besides each service's own secrets.
    secrets: Vec<SecretString>,
}

impl CommandDeployer {
    /// A deployer resolving `workdir`s against `base_dir` (normally the plan file's
    /// directory).
    #[must_use]
    pub fn new(base_dir: impl Into<PathBuf>) -> Self {
        Self {
            base_dir: base_dir.into(),
            secrets: Vec::new(),
        }
    }

    /// The directory `workdir`s are relative to.
    #[must_use]
    pub fn base_dir(&self) -> &Path {
        &self.base_dir
    }

    /// Also redact the values of every secret `plan` declares (`services.*.secrets`), as
    /// read from the environment now, from the output of every command (a service's command
    /// inherits the whole environment, so it can print another service's secret). The
    /// service's own secrets are always redacted, read when its command runs.
    #[must_use]
    pub fn redacting_secrets_of(mut self, plan: &DeployPlan) -> Self {
        let names = plan.services().iter().flat_map(|s| s.secrets.iter());
        self.secrets
            .extend(names.filter_map(|name| env_secret(name)));
        self
    }

    /// Also redact these values from every command's output (e.g. secrets from a vault).
    #[must_use]
    pub fn redacting(mut self, values: impl IntoIterator<Item = SecretString>) -> Self {
        self.secrets.extend(values);
        self
    }

    /// `text` with the registered secrets and `service`'s own (from the environment)
    /// replaced by [`REDACTED`](parky_core::REDACTED).
    fn redact(&self, service: &ServiceSpec, text: &str) -> String {
        let own: Vec<SecretString> = service
            .secrets
            .iter()
            .filter_map(|name| env_secret(name))
            .collect();
        let all: Vec<&SecretString> = self.secrets.iter().chain(own.iter()).collect();
        parky_core::redact(text, &all)
    }

    /// Runs `step` for `service`; on success returns the child's standard output (secrets
    /// redacted).
    async fn run(
        &self,
        service: &ServiceSpec,
        operation: &str,
        step: &DeployStep,
    ) -> Result<String, DeployError> {
        let program = step.command.first().cloned().unwrap_or_default();
        let fail = |failure: CommandFailure, stderr: &[u8]| DeployError::ServiceCommand {
            service: service.name.clone(),
            operation: operation.to_owned(),
            program: program.clone(),
            failure,
            // Redact the whole text before cutting, so that no part of a secret survives.
            stderr_tail: tail(
                self.redact(service, &String::from_utf8_lossy(stderr))
                    .as_bytes(),
            ),
        };
        let dir = match &step.workdir {
            Some(dir) => self.base_dir.join(dir),
            None => self.base_dir.clone(),
        };
        let mut command = tokio::process::Command::new(&program);
        command
            .args(step.command.iter().skip(1))
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // Its own process group (pgid = its pid), so that a timeout can kill what it started.
        #[cfg(unix)]
        command.process_group(0);
        tracing::info!(service = %service.name, operation, %program, dir = %dir.display(), "running");
        let child = command.spawn().map_err(|e| {
            let reason = if e.kind() == std::io::ErrorKind::NotFound && !dir.is_dir() {
                format!("working directory {} does not exist", dir.display())
            } else {
                e.to_string()
            };
            fail(CommandFailure::Spawn(reason), &[])
        })?;
        let group = child.id();
        let mut waiting = std::pin::pin!(child.wait_with_output());
        let output = match tokio::time::timeout(step.timeout, &mut waiting).await {
            Err(_elapsed) => {
                let stderr = kill_and_reap(group, waiting).await;
                return Err(fail(CommandFailure::TimedOut(step.timeout), &stderr));
            }
            Ok(Err(e)) => return Err(fail(CommandFailure::Spawn(e.to_string()), &[])),
            Ok(Ok(output)) => output,
        };
        if output.status.success() {
            let stdout = String::from_utf8_lossy(&output.stdout);
            return Ok(self.redact(service, &stdout));
        }
        let failure = match output.status.code() {
            Some(code) => CommandFailure::Exit(code),
            None => CommandFailure::Signal(signal_of(&output.status)),
        };
        Err(fail(failure, &output.stderr))
    }
}

/// How long [`kill_and_reap`] waits for the killed command to exit and close its output.
const REAP_TIMEOUT: Duration = Duration::from_secs(5);

/// The value of the environment variable `name`, when set and not empty.
fn env_secret(name: &str) -> Option<SecretString> {
    if name.is_empty() || name.contains(['=', '\0']) {
        return None;
    }
    std::env::var(name)
        .ok()
        .filter(|value| !value.is_empty())
        .map(SecretString::from)
}

/// Kills the timed-out command's whole process group (`group`, its pid: it was started with
/// `process_group(0)`), then waits (at most [`REAP_TIMEOUT`]) for `waiting` to reap it and
/// returns what it wrote to standard error.
///
/// `unsafe` is forbidden in this workspace and there is no libc binding, so the group is
/// killed by running `kill -KILL -- -<pgid>` (an argv, no shell). Linux does not reuse a pid
/// while it names a live process group, so the signal cannot reach an unrelated process.
/// If `kill` cannot be run, or a process left the group (`setsid`) and keeps the output
/// open, dropping `waiting` still kills the direct child (`kill_on_drop`).
async fn kill_and_reap<F>(group: Option<u32>, waiting: Pin<&mut F>) -> Vec<u8>
where
    F: Future<Output = std::io::Result<std::process::Output>>,
{
    #[cfg(unix)]
    if let Some(pgid) = group {
        let killed = tokio::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{pgid}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
        match killed {
            Ok(status) if status.success() => {}
            Ok(status) => tracing::warn!(pgid, %status, "kill of the process group failed"),
            Err(error) => tracing::warn!(pgid, %error, "cannot run kill for the process group"),
        }
    }
    #[cfg(not(unix))]
    let _ = group;
    match tokio::time::timeout(REAP_TIMEOUT, waiting).await {
        Ok(Ok(output)) => output.stderr,
        Ok(Err(error)) => {
            tracing::warn!(%error, "waiting for the killed command failed");
            Vec::new()
        }
        Err(_elapsed) => {
            tracing::warn!("the killed command's output is still open; giving up on it");
            Vec::new()
        }
    }
}

#[cfg(unix)]
fn signal_of(status: &std::process::ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    status.signal()
}

#[cfg(not(unix))]
fn signal_of(_status: &std::process::ExitStatus) -> Option<i32> {
    None
}

/// The last whole lines of `bytes` within [`STDERR_TAIL_BYTES`], trimmed.
fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim_end();
    if text.len() <= STDERR_TAIL_BYTES {
        return text.trim_start_matches('\n').to_owned();
    }
    let mut start = text.len() - STDERR_TAIL_BYTES;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let cut = &text[start..];
    // Start at a line boundary when there is one.
    match cut.find('\n') {
        Some(newline) if newline + 1 < cut.len() => cut[newline + 1..].to_owned(),
        _ => cut.to_owned(),
    }
}

/// The id after the last `Version ID:` in `stdout`.
fn reported_version(stdout: &str) -> Option<VersionId> {
    stdout.lines().rev().find_map(|line| {
        let at = line.find("Version ID:")?;
        let id = line[at + "Version ID:".len()..].split_whitespace().next()?;
        Some(VersionId(id.to_owned()))
    })
}

#[async_trait]
impl Deployer for CommandDeployer {
    async fn deploy(&self, service: &ServiceSpec) -> Result<VersionId, DeployError> {
        let stdout = self.run(service, "deploy", &service.deploy).await?;
        Ok(reported_version(&stdout).unwrap_or_else(|| VersionId::from(UNREPORTED_VERSION)))
    }

    async fn rollback(&self, service: &ServiceSpec) -> Result<(), DeployError> {
        let Some(step) = &service.rollback else {
            return Err(DeployError::ServiceOperation {
                service: service.name.clone(),
                operation: "rollback".to_owned(),
                reason: format!(
                    "the plan has no rollback command for it (services.{}.rollback)",
                    service.name
                ),
            });
        };
        self.run(service, "rollback", step).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_whole_lines() {
        assert_eq!(tail(b"one\ntwo\n\n"), "one\ntwo");
        let long: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        let kept = tail(long.as_bytes());
        assert!(kept.len() <= STDERR_TAIL_BYTES);
        assert!(kept.ends_with("line 999"));
        assert!(kept.starts_with("line "), "{kept}");
    }

    #[test]
    fn version_comes_from_wranglers_output() {
        let out =
            "Uploaded w (1.2 sec)\nDeployed w triggers\n  Current Version ID: 5d5c0cfd-aaaa\n";
        assert_eq!(
            reported_version(out),
            Some(VersionId::from("5d5c0cfd-aaaa"))
        );
        assert_eq!(reported_version("done\n"), None);
    }
}
