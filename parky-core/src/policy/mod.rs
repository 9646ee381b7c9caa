//! Pure decisions: backoff and retry. No I/O, no async, no sleeping; time and
//! randomness are passed in.

mod backoff;
mod retry;

pub use backoff::{Backoff, Jitter};
pub use retry::{Decision, DelaySource, Failure, GiveUpReason, RetryPolicy, Retryable};
