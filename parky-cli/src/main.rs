//! The `parky` command.
fn main() {}
