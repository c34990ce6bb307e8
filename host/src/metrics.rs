//! Metrics: what the node counts, in the Prometheus text format
//! (`GET /metrics`, [`Node::metrics_text`](crate::Node::metrics_text)).
//!
//! The counters are kept in [`counters`](crate::core::counters), where each
//! metric is declared once with its name and help text; values the node
//! already knows (live actors, mailbox depths, late answers) are read from
//! its state when the page is rendered rather than counted twice.

/// The content type of the Prometheus text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
