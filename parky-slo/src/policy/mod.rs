//! Pure decisions: no I/O, no async, time passed in.

pub mod alert;
pub mod rollback;
