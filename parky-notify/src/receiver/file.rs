//! The embedded default receiver: one JSON line per [`Message`] appended to a file, or
//! written to standard output. Needs no network and no credentials.
//!
//! Each line is the message's serde JSON form followed by `\n`, written with a single
//! `write_all` on a file opened in append mode, under a lock, so lines from concurrent sends
//! never interleave. The write is blocking (a local append is short); the file is opened for
//! every message, so rotating it (moving it away) needs no restart.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;

use super::{Delivery, Notifier};
use crate::error::NotifyError;
use crate::message::Message;

/// Where the lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Stdout,
    File(PathBuf),
}

/// Appends one JSON line per message to a file or standard output.
#[derive(Debug)]
pub struct FileNotifier {
    name: String,
    target: Target,
    lock: Mutex<()>,
}

impl FileNotifier {
    /// A receiver called `name` appending to `path` (created if missing; its directory must
    /// exist).
    #[must_use]
    pub fn new(name: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        Self {
            name: name.into(),
            target: Target::File(path.into()),
            lock: Mutex::new(()),
        }
    }

    /// A receiver called `name` writing to standard output.
    #[must_use]
    pub fn stdout(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            target: Target::Stdout,
            lock: Mutex::new(()),
        }
    }

    /// The file written to, or `None` for standard output.
    #[must_use]
    pub fn path(&self) -> Option<&Path> {
        match &self.target {
            Target::File(path) => Some(path),
            Target::Stdout => None,
        }
    }

    fn shown_path(&self) -> String {
        match &self.target {
            Target::File(path) => path.display().to_string(),
            Target::Stdout => "-".to_owned(),
        }
    }

    fn io_error(&self, operation: &'static str, err: &std::io::Error) -> NotifyError {
        NotifyError::ReceiverIo {
            receiver: self.name.clone(),
            path: self.shown_path(),
            operation,
            message: err.to_string(),
        }
    }
}

#[async_trait]
impl Notifier for FileNotifier {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, message: &Message) -> Result<Delivery, NotifyError> {
        let mut line = serde_json::to_vec(message).map_err(|e| NotifyError::ReceiverIo {
            receiver: self.name.clone(),
            path: self.shown_path(),
            operation: "encode",
            message: e.to_string(),
        })?;
        line.push(b'\n');
        // The guard protects no data, only the order of writes; a poisoned lock is harmless.
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        match &self.target {
            Target::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(&line)
                    .and_then(|()| out.flush())
                    .map_err(|e| self.io_error("write", &e))?;
            }
            Target::File(path) => {
                let mut file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| self.io_error("open", &e))?;
                file.write_all(&line)
                    .map_err(|e| self.io_error("write", &e))?;
            }
        }
        tracing::debug!(receiver = %self.name, path = %self.shown_path(), "message written");
        Ok(Delivery::File {
            path: self.shown_path(),
        })
    }
}
