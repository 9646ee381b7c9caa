//! SLI sources (work in progress).
