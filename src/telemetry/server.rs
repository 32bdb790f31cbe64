//! `/metrics`, `/healthz` and `/readyz` for Prometheus and the kubelet's probes.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use super::metrics::Metrics;

/// What the endpoints report on.
#[derive(Clone)]
pub struct Probes {
    pub metrics: Arc<Metrics>,
    /// True while this process holds the lease (always, without leader election).
    pub leading: tokio::sync::watch::Receiver<bool>,
    /// True once the leader's caches hold their initial lists.
    pub caches_ready: tokio::sync::watch::Receiver<bool>,
}

async fn scrape(State(p): State<Probes>) -> impl IntoResponse {
    match p.metrics.encode() {
        Ok(body) => (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, [(header::CONTENT_TYPE, "text/plain")], String::from("encoding failed")),
    }
}

async fn healthz() -> &'static str {
    "ok"
}

/// A standby is ready (it is healthy and waiting for the lease: a rollout must not stall on it);
/// the leader is ready once every cache holds its initial list, before which nothing is reconciled.
async fn readyz(State(p): State<Probes>) -> (StatusCode, &'static str) {
    match (*p.leading.borrow(), *p.caches_ready.borrow()) {
        (false, _) => (StatusCode::OK, "ok: standby"),
        (true, true) => (StatusCode::OK, "ok"),
        (true, false) => (StatusCode::SERVICE_UNAVAILABLE, "caches are syncing"),
    }
}

pub async fn serve(listener: tokio::net::TcpListener, probes: Probes) -> std::io::Result<()> {
    let app = Router::new().route("/metrics", get(scrape)).route("/healthz", get(healthz)).route("/readyz", get(readyz)).with_state(probes);
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, "serving /metrics, /healthz and /readyz");
    }
    axum::serve(listener, app).await
}
