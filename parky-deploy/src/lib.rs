//! Canary rollouts with SLO-driven auto-rollback (work in progress).

#[cfg(feature = "sqlite")]
pub mod controller;
pub mod error;
pub mod model;
pub mod plan;
pub mod policy;
pub mod recorder;
pub mod workers;

pub use error::DeployError;
pub use policy::canary::{Action, CanaryConfig, CanaryPlan, CanaryState, Check, Command, Phase};
pub use policy::judge::{CanaryJudge, SloJudge, Verdict};
pub use policy::shadow::{EnforcementMode, ShadowLedger};
