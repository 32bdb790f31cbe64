//! The wake component's own metrics: its requests by outcome and how long held ones waited.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

pub struct WakeMetrics {
    registry: Registry,
    requests: Family<OutcomeLabels, Counter>,
    held: Histogram,
}

impl WakeMetrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("framaspace_wake");
        let requests = Family::<OutcomeLabels, Counter>::default();
        for outcome in ["served", "page", "ignored", "robots", "timed_out", "upstream_error", "unknown_host", "wake_requested"] {
            drop(requests.get_or_create(&OutcomeLabels { outcome: outcome.into() }));
        }
        registry.register(
            "requests",
            "Requests for sleeping spaces by outcome (served after a hold, page, ignored, ...)",
            requests.clone(),
        );
        // 0.1 s .. ~7 min
        let held = Histogram::new(exponential_buckets(0.1, 2.0, 13));
        registry.register("hold_seconds", "How long a held request waited for its space to serve", held.clone());
        WakeMetrics { registry, requests, held }
    }

    pub fn request(&self, outcome: &str) {
        self.requests.get_or_create(&OutcomeLabels { outcome: outcome.into() }).inc();
    }

    pub fn held(&self, seconds: f64) {
        self.held.observe(seconds);
    }

    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}
