//! SLOs, error budgets and burn-rate alerting (work in progress).

pub mod error;
pub mod model;
pub mod objective;
pub mod policy;
pub mod window;
pub mod evaluator;
pub mod latency;
#[cfg(feature = "logs")]
pub mod source;
