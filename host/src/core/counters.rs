//! The counters the node keeps: what happened, as plain atomics.
//!
//! Counting is on the hot path, so every metric is a few plain atomics: a
//! counter bump is one relaxed atomic add, a latency observation three. The
//! registry is the [`Metrics`] struct that the node owns; its fields are
//! declared in one list below, each with its Prometheus name and, as its
//! doc comment, its help text. Adding a counter is one line there, and one
//! `metrics.NAME.inc()` where the event happens. The page that shows them
//! is the edge module `metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::RwLock;

use crate::core::error::DeliveryError;

/// A number that only goes up.
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    pub(crate) fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Upper bounds of the latency buckets, in seconds.
const LATENCY_BOUNDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A latency histogram with fixed buckets ([`LATENCY_BOUNDS`] and `+Inf`).
#[derive(Debug, Default)]
pub(crate) struct Histogram {
    /// Observations per bucket, not cumulative (the last is `+Inf`).
    buckets: [AtomicU64; LATENCY_BOUNDS.len() + 1],
    sum_ns: AtomicU64,
}

impl Histogram {
    pub(crate) fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = LATENCY_BOUNDS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(LATENCY_BOUNDS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }
}

/// A counter per [`DeliveryError`] kind, labelled `kind`. A kind's series
/// appears the first time it is counted. Errors are the cold path, so a
/// short locked list is fine here.
#[derive(Debug, Default)]
pub(crate) struct ByKind(RwLock<Vec<(&'static str, AtomicU64)>>);

impl ByKind {
    pub(crate) fn inc(&self, e: &DeliveryError) {
        let kind = e.kind();
        if let Some((_, n)) = self.0.read().iter().find(|(k, _)| *k == kind) {
            n.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut kinds = self.0.write();
        match kinds.iter().find(|(k, _)| *k == kind) {
            Some((_, n)) => {
                n.fetch_add(1, Ordering::Relaxed);
            }
            None => {
                kinds.push((kind, AtomicU64::new(1)));
                kinds.sort_by_key(|(k, _)| *k);
            }
        }
    }
}

/// How one kind of metric writes itself.
trait Render {
    fn render(&self, out: &mut String, name: &str, help: &str);
}

pub(crate) fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

impl Render for Counter {
    fn render(&self, out: &mut String, name: &str, help: &str) {
        header(out, name, help, "counter");
        let _ = writeln!(out, "{name} {}", self.get());
    }
}

impl Render for ByKind {
    fn render(&self, out: &mut String, name: &str, help: &str) {
        header(out, name, help, "counter");
        for (kind, n) in self.0.read().iter() {
            let _ = writeln!(out, "{name}{{kind=\"{kind}\"}} {}", n.load(Ordering::Relaxed));
        }
    }
}

impl Render for Histogram {
    fn render(&self, out: &mut String, name: &str, help: &str) {
        header(out, name, help, "histogram");
        let mut cumulative = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            cumulative += n.load(Ordering::Relaxed);
            match LATENCY_BOUNDS.get(i) {
                Some(le) => {
                    let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
                }
                None => {
                    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
                }
            }
        }
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {cumulative}");
    }
}

/// Declares the registry: one line per metric, `field: Type = "name"`,
/// with the help text as its doc comment.
macro_rules! registry {
    ($( #[doc = $help:literal] $field:ident: $ty:ident = $name:literal, )*) => {
        /// The metrics one node counts.
        #[derive(Debug, Default)]
        pub(crate) struct Metrics {
            $( #[doc = $help] pub(crate) $field: $ty, )*
        }

        impl Metrics {
            pub(crate) fn render_counted(&self, out: &mut String) {
                $( self.$field.render(out, $name, $help.trim()); )*
            }
        }
    };
}

registry! {
    /// Messages and calls handled by actors.
    messages_handled: Counter = "wactor_messages_handled_total",
    /// Runs of two or more plain messages handed to an actor in one call (see `handle-messages`), counted as they start; their messages count in wactor_messages_handled_total.
    message_batches: Counter = "wactor_message_batches_total",
    /// Calls (from the host or from actors) run on the caller's task, on an idle actor's instance, instead of through its mailbox.
    direct_calls: Counter = "wactor_direct_calls_total",
    /// Messages sent (delivered to a mailbox or refused).
    messages_sent: Counter = "wactor_messages_sent_total",
    /// How long calls took, answered or not; its _count is the number of calls.
    call_duration: Histogram = "wactor_call_duration_seconds",
    /// Sends and calls that failed, by error kind.
    delivery_errors: ByKind = "wactor_delivery_errors_total",
    /// Actors restarted after they ended (pool workers replaced, supervised restarts).
    restarts: Counter = "wactor_restarts_total",
    /// Behaviours replaced by a new version.
    reloads: Counter = "wactor_reloads_total",
    /// Behaviours compiled and loaded.
    loads: Counter = "wactor_behaviour_loads_total",
    /// Behaviour files that failed to load.
    load_failures: Counter = "wactor_behaviour_load_failures_total",
    /// Manifests applied to a behaviour (when it loads or when its manifest changes).
    manifests_applied: Counter = "wactor_manifests_applied_total",
    /// Manifests refused as malformed or granting what is not there.
    manifests_rejected: Counter = "wactor_manifests_rejected_total",
    /// Important deliveries confirmed.
    important_acks: Counter = "wactor_important_acks_total",
    /// Important deliveries refused, with their reason reported to the sender.
    important_nacks: Counter = "wactor_important_nacks_total",
    /// Frames from other nodes found missing from their stream (dropped by a full inbound buffer, or lost with a connection).
    remote_frames_lost: Counter = "wactor_remote_frames_lost_total",
    /// Times an idle actor hibernated (state kept, instance dropped).
    hibernations: Counter = "wactor_hibernations_total",
    /// Times a hibernated actor woke for its next message.
    wakes: Counter = "wactor_wakes_total",
    /// Idle instances that cannot hibernate because their snapshot answered none (each counted once).
    hibernation_refusals: Counter = "wactor_hibernation_refusals_total",
}

impl Metrics {
    /// Counts one send and its outcome.
    pub(crate) fn sent(&self, r: &Result<(), DeliveryError>) {
        self.messages_sent.inc();
        if let Err(e) = r {
            self.delivery_errors.inc(e);
        }
    }

    /// Counts one call, begun at `started`, and its outcome.
    pub(crate) fn called<T>(&self, started: Instant, r: &Result<T, DeliveryError>) {
        self.call_duration.observe(started.elapsed());
        if let Err(e) = r {
            self.delivery_errors.inc(e);
        }
    }

    /// Counts the outcome of an important delivery.
    pub(crate) fn important<T>(&self, r: &Result<T, DeliveryError>) {
        match r {
            Ok(_) => self.important_acks.inc(),
            Err(_) => self.important_nacks.inc(),
        }
    }
}

/// Values the node reads from its state when the page is rendered.
#[derive(Debug, Default)]
pub(crate) struct Census {
    pub(crate) actors: u64,
    pub(crate) pools: u64,
    pub(crate) hibernating: u64,
    pub(crate) instances: u64,
    pub(crate) depth: u64,
    pub(crate) deepest: u64,
    pub(crate) behaviours: u64,
    pub(crate) late_answers: u64,
}

impl Metrics {
    /// The whole metrics page: the counters, then the gauges of `c`.
    pub(crate) fn render_page(&self, c: &Census) -> String {
        let mut out = String::with_capacity(4096);
        self.render_counted(&mut out);
        let gauges = [
            (
                "wactor_actors_live",
                "Live actors (pool workers included, pool fronts not).",
                c.actors,
            ),
            ("wactor_pools_live", "Live pools.", c.pools),
            (
                "wactor_actors_hibernating",
                "Live actors hibernating: state kept, instance dropped until the next message.",
                c.hibernating,
            ),
            (
                "wactor_instances_live",
                "Component instances alive (actors not hibernating).",
                c.instances,
            ),
            (
                "wactor_mailbox_depth",
                "Messages waiting in all mailboxes.",
                c.depth,
            ),
            (
                "wactor_mailbox_depth_max",
                "Messages waiting in the fullest mailbox.",
                c.deepest,
            ),
            ("wactor_behaviours_loaded", "Behaviours loaded.", c.behaviours),
        ];
        for (name, help, v) in gauges {
            header(&mut out, name, help, "gauge");
            let _ = writeln!(out, "{name} {v}");
        }
        let name = "wactor_late_responses_dropped_total";
        header(
            &mut out,
            name,
            "Answers that arrived after their caller had stopped waiting, dropped.",
            "counter",
        );
        let _ = writeln!(out, "{name} {}", c.late_answers);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_is_cumulative_and_counts_every_observation() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(100));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(60));
        let mut out = String::new();
        h.render(&mut out, "t", "help");
        assert!(out.contains("t_bucket{le=\"0.0005\"} 1\n"), "{out}");
        assert!(out.contains("t_bucket{le=\"0.005\"} 2\n"), "{out}");
        assert!(out.contains("t_bucket{le=\"10\"} 2\n"), "{out}");
        assert!(out.contains("t_bucket{le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("t_count 3\n"), "{out}");
    }

    #[test]
    fn every_error_kind_has_its_own_series() {
        let m = Metrics::default();
        m.sent(&Err(DeliveryError::MailboxFull));
        m.sent(&Err(DeliveryError::Terminated("x".into())));
        m.sent(&Err(DeliveryError::Terminated("y".into())));
        let mut out = String::new();
        m.render_counted(&mut out);
        assert!(
            out.contains("wactor_delivery_errors_total{kind=\"mailbox-full\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("wactor_delivery_errors_total{kind=\"terminated\"} 2\n"),
            "{out}"
        );
        assert!(out.contains("wactor_messages_sent_total 3\n"), "{out}");
    }
}
