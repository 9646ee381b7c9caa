//! Pure decisions of a canary rollout: no I/O, no async, time passed in.
//!
//! - [`canary`]: the [`CanaryPlan`](canary::CanaryPlan) (steps, bake time, minimum requests,
//!   failure threshold, progress deadline) and the state machine that ticks a
//!   [`CanaryState`](canary::CanaryState) into [`Action`](canary::Action)s;
//! - [`judge`]: the [`CanaryJudge`](judge::CanaryJudge) trait and its default built on
//!   `parky-slo`'s rollback rule;
//! - [`shadow`]: per-environment enforce/shadow modes, the ledger of rollback decisions and the
//!   two-week rule for enforcing.

pub mod canary;
pub mod judge;
pub mod shadow;
