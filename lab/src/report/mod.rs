//! What runs measured, judged and shown.
//!
//! # Layout
//! - [`judge`]: one run's facts against its scenario's expectations.
//! - [`phases`]: a failover in its phases, from the nodes' journals.
//! - [`split_brain`]: DRBD split brains, from the nodes' journals.
//! - [`results`]: `results.json`, versioned.
//! - [`stats`]: statistics per scenario; [`baseline`]: regressions
//!   against an earlier run.
//! - [`merge`]: the shares of a suite run on several machines, joined.
//! - [`render`]: JUnit XML, Markdown and HTML with a timeline.

pub mod baseline;
pub mod judge;
pub mod merge;
pub mod phases;
pub mod render;
pub mod results;
pub mod split_brain;
pub mod stats;
