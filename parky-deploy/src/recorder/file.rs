//! [`FileRecorder`]: deploy records as JSON lines in a local file (the embedded default).

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use parky_core::{Clock, SystemClock};
use serde::{Deserialize, Serialize};

use super::{DeployRecorder, DeploymentId, DeploymentState, NewDeployment, StatusUpdate};
use crate::error::DeployError;

/// One line of the record file.
///
/// ```text
/// {"event":"start","at":"2024-05-01T12:00:00Z","id":"1","service":"public","deployment":{"ref":"main","environment":"production"}}
/// {"event":"status","at":"2024-05-01T12:00:05Z","id":"1","update":{"state":"success"}}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RecordLine {
    /// A deployment started.
    Start {
        /// When (from the recorder's clock).
        at: DateTime<Utc>,
        /// The id handed out: `1`, `2`, … in file order.
        id: DeploymentId,
        /// The service.
        service: String,
        /// The deployment's fields.
        deployment: NewDeployment,
    },
    /// A deployment changed state.
    Status {
        /// When.
        at: DateTime<Utc>,
        /// The deployment.
        id: DeploymentId,
        /// The change.
        update: StatusUpdate,
    },
}

impl RecordLine {
    /// The state this line sets, if it is a status line.
    #[must_use]
    pub fn state(&self) -> Option<DeploymentState> {
        match self {
            Self::Status { update, .. } => Some(update.state),
            Self::Start { .. } => None,
        }
    }
}

/// A [`DeployRecorder`] appending [`RecordLine`]s, one JSON object per line, to a file.
///
/// Ids are sequence numbers: one more than the `start` lines already in the file. Writes
/// are serialized within the process; the file is opened in append mode for every record,
/// so a crash loses at most the line being written. The I/O is blocking and small (one line
/// per call).
pub struct FileRecorder {
    path: PathBuf,
    clock: Arc<dyn Clock>,
    lock: Mutex<()>,
}

impl std::fmt::Debug for FileRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileRecorder")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl FileRecorder {
    /// A recorder appending to `path` (created on first write), stamping lines with the
    /// system clock.
    #[must_use]
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            clock: Arc::new(SystemClock),
            lock: Mutex::new(()),
        }
    }

    /// Stamp lines with this clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every record in the file, in order (an absent file has none).
    ///
    /// # Errors
    /// [`DeployError::RecordFile`] when the file cannot be read or a line is not a record
    /// (the reason names the 1-based line).
    pub fn records(&self) -> Result<Vec<RecordLine>, DeployError> {
        read_records(&self.path)
    }

    fn file_error(&self, reason: impl Into<String>) -> DeployError {
        DeployError::RecordFile {
            path: self.path.display().to_string(),
            reason: reason.into(),
        }
    }

    fn append(&self, line: &RecordLine) -> Result<(), DeployError> {
        let mut text = serde_json::to_string(line).map_err(|e| self.file_error(e.to_string()))?;
        text.push('\n');
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| self.file_error(e.to_string()))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.flush())
            .map_err(|e| self.file_error(e.to_string()))
    }
}

/// Read the records of a file written by [`FileRecorder`] (an absent file has none).
///
/// # Errors
/// [`DeployError::RecordFile`] when the file cannot be read or a line is not a record.
pub(crate) fn read_records(path: &Path) -> Result<Vec<RecordLine>, DeployError> {
    let error = |reason: String| DeployError::RecordFile {
        path: path.display().to_string(),
        reason,
    };
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(error(e.to_string())),
    };
    let mut records = Vec::new();
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| error(e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let record =
            serde_json::from_str(&line).map_err(|e| error(format!("line {}: {e}", index + 1)))?;
        records.push(record);
    }
    Ok(records)
}

#[async_trait]
impl DeployRecorder for FileRecorder {
    async fn start(
        &self,
        service: &str,
        deployment: &NewDeployment,
    ) -> Result<DeploymentId, DeployError> {
        // The guard only serializes writers; a poisoned one protects no data.
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        let started = self
            .records()?
            .iter()
            .filter(|r| matches!(r, RecordLine::Start { .. }))
            .count();
        let id = DeploymentId((started + 1).to_string());
        self.append(&RecordLine::Start {
            at: self.clock.now(),
            id: id.clone(),
            service: service.to_owned(),
            deployment: deployment.clone(),
        })?;
        Ok(id)
    }

    async fn status(&self, id: &DeploymentId, update: &StatusUpdate) -> Result<(), DeployError> {
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.append(&RecordLine::Status {
            at: self.clock.now(),
            id: id.clone(),
            update: update.clone(),
        })
    }
}
