//! Shared plumbing for the Parky Ops crates (work in progress).
