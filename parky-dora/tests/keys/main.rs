//! The crate's calculators, classification and reports, as one integration test binary.
//!
//! - [`calculators`]: the four keys on small histories, expected values computed by hand.
//! - [`classify`]: the published cluster tables cell by cell, and the classification rules.
//! - [`properties`]: invariants on generated histories (proptest).
//! - [`report`]: JSON, text, Markdown, Discord limits and the SVG chart.

mod calculators;
mod classify;
mod properties;
mod report;
