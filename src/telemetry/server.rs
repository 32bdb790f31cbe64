//! `/metrics`, `/healthz` and `/readyz` for Prometheus and the kubelet's probes.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use super::metrics::Metrics;

#[derive(Clone)]
struct Probe {
    metrics: Arc<Metrics>,
    ready: tokio::sync::watch::Receiver<bool>,
}

async fn scrape(State(p): State<Probe>) -> impl IntoResponse {
    match p.metrics.encode() {
        Ok(body) => (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, [(header::CONTENT_TYPE, "text/plain")], String::from("encoding failed")),
    }
}

async fn healthz() -> &'static str {
    "ok"
}

/// Ready once every cache holds its initial list: before that, nothing is reconciled.
async fn readyz(State(p): State<Probe>) -> (StatusCode, &'static str) {
    if *p.ready.borrow() { (StatusCode::OK, "ok") } else { (StatusCode::SERVICE_UNAVAILABLE, "caches are syncing") }
}

pub async fn serve(address: SocketAddr, metrics: Arc<Metrics>, ready: tokio::sync::watch::Receiver<bool>) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(scrape))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(Probe { metrics, ready });
    let listener = tokio::net::TcpListener::bind(address).await?;
    tracing::info!(%address, "serving /metrics, /healthz and /readyz");
    axum::serve(listener, app).await
}
