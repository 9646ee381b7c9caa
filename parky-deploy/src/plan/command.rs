//! [`CommandDeployer`]: the real [`Deployer`] that runs each service's `deploy.command` and
//! `rollback.command` as child processes.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use async_trait::async_trait;

use super::config::{DeployStep, ServiceSpec};
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
/// - **Timeout:** the step's `timeout`; past it the child is killed and the step fails with
///   [`CommandFailure::TimedOut`].
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
}

impl CommandDeployer {
    /// A deployer resolving `workdir`s against `base_dir` (normally the plan file's
    /// directory).
    #[must_use]
    pub fn new(base_dir: impl Into<PathBuf>) -> Self {
        Self {
            base_dir: base_dir.into(),
        }
    }

    /// The directory `workdir`s are relative to.
    #[must_use]
    pub fn base_dir(&self) -> &Path {
        &self.base_dir
    }

    /// Runs `step` for `service`; on success returns the child's standard output.
    async fn run(
        &self,
        service: &str,
        operation: &str,
        step: &DeployStep,
    ) -> Result<String, DeployError> {
        let program = step.command.first().cloned().unwrap_or_default();
        let fail = |failure: CommandFailure, stderr: &[u8]| DeployError::ServiceCommand {
            service: service.to_owned(),
            operation: operation.to_owned(),
            program: program.clone(),
            failure,
            stderr_tail: tail(stderr),
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
        tracing::info!(service, operation, %program, dir = %dir.display(), "running");
        let child = command.spawn().map_err(|e| {
            let reason = if e.kind() == std::io::ErrorKind::NotFound && !dir.is_dir() {
                format!("working directory {} does not exist", dir.display())
            } else {
                e.to_string()
            };
            fail(CommandFailure::Spawn(reason), &[])
        })?;
        // Dropping the future on timeout drops the child, which kills it (`kill_on_drop`).
        let output = match tokio::time::timeout(step.timeout, child.wait_with_output()).await {
            Err(_elapsed) => return Err(fail(CommandFailure::TimedOut(step.timeout), &[])),
            Ok(Err(e)) => return Err(fail(CommandFailure::Spawn(e.to_string()), &[])),
            Ok(Ok(output)) => output,
        };
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
        }
        let failure = match output.status.code() {
            Some(code) => CommandFailure::Exit(code),
            None => CommandFailure::Signal(signal_of(&output.status)),
        };
        Err(fail(failure, &output.stderr))
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
        let stdout = self.run(&service.name, "deploy", &service.deploy).await?;
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
        self.run(&service.name, "rollback", step).await.map(drop)
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
