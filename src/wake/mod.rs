//! `framaspace-operator wake`: the wake component. A sleeping space's Ingress or HTTPRoute sends
//! its requests here (the space's `nextcloud-wake` Service names this one). A request is
//! classified (`classify`): monitors and crawlers wake nothing; anything else asks the operator
//! to wake the space (the annotation `frama.space/wake-requested`, the one change this
//! component's identity may make, by the chart's admission policy) and is either held until the
//! space serves it, then passed to the space's Service, or, for a browser's page load, answered
//! with a page that reloads. Stateless: every replica reads the spaces from its own watch, so the
//! chart runs two behind one Service.

pub mod classify;
mod hosts;
mod metrics;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::StreamExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use tracing::{info, warn};

use self::classify::{RequestFacts, Treatment, treatment};
use self::hosts::HostIndex;
use crate::api::AssociationSpace;
use crate::api::labels::WAKE_REQUEST_ANNOTATION;
use crate::api::sleep::SleepState;

/// The field manager of the wake requests (not the operator's: the operator never owns them).
pub const WAKE_FIELD_MANAGER: &str = "framaspace-wake";

/// How the component runs.
#[derive(Clone, Debug)]
pub struct WakeConfig {
    /// Where the requests of sleeping spaces arrive.
    pub address: SocketAddr,
    /// `/healthz`, `/readyz` and `/metrics`.
    pub probe_address: SocketAddr,
    /// Where a space is served, `{namespace}` standing for its namespace (e.g.
    /// `http://nextcloud.{namespace}.svc.cluster.local`).
    pub upstream: String,
    /// How long a request is held while its space wakes.
    pub hold: Duration,
    /// The `Retry-After` (and the page's reload) in seconds.
    pub retry_seconds: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum WakeError {
    #[error("cannot reach the Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("cannot listen on {address}: {source}")]
    Listen { address: SocketAddr, source: std::io::Error },
    #[error("the server stopped: {0}")]
    Serve(std::io::Error),
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

struct Shared {
    spaces: Store<AssociationSpace>,
    client: Client,
    http: reqwest::Client,
    config: WakeConfig,
    metrics: metrics::WakeMetrics,
    /// The sleep (its `since`) each space was asked to wake from by this replica.
    asked: Mutex<HashMap<String, String>>,
    /// Counts the changes the watch brought: held requests wait on it instead of polling.
    changes: tokio::sync::watch::Sender<u64>,
    hosts: Mutex<HostIndex>,
}

pub async fn run(config: WakeConfig) -> Result<(), WakeError> {
    let client = Client::try_default().await?;
    let (spaces, writer) = reflector::store();
    let watch = watcher(Api::<AssociationSpace>::all(client.clone()), watcher::Config::default()).default_backoff().reflect(writer);
    // The store holds each change before it is counted, so a request woken by the count reads it.
    let (changes, _) = tokio::sync::watch::channel(0u64);
    let counted = changes.clone();
    tokio::spawn(watch.for_each(move |_| {
        counted.send_modify(|n| *n += 1);
        futures::future::ready(())
    }));
    // Redirects are the space's to give to the client, never to follow here.
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).connect_timeout(Duration::from_secs(5)).build()?;
    let shared = Arc::new(Shared {
        spaces: spaces.clone(),
        client,
        http,
        config: config.clone(),
        metrics: metrics::WakeMetrics::new(),
        asked: Mutex::default(),
        changes,
        hosts: Mutex::default(),
    });
    let probes = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(scrape))
        .with_state(shared.clone());
    let listen = |address: SocketAddr| async move {
        tokio::net::TcpListener::bind(address).await.map_err(|source| WakeError::Listen { address, source })
    };
    let probe_listener = listen(config.probe_address).await?;
    let listener = listen(config.address).await?;
    info!(address = %config.address, probes = %config.probe_address, upstream = %config.upstream, "wake component serving");
    let app = Router::new().fallback(handle).with_state(shared);
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    tokio::spawn(async move {
        if let Err(e) = axum::serve(probe_listener, probes).await {
            warn!(error = %e, "the probe server stopped");
        }
    });
    axum::serve(listener, app).with_graceful_shutdown(stop).await.map_err(WakeError::Serve)
}

async fn readyz(State(s): State<Arc<Shared>>) -> (StatusCode, &'static str) {
    // Ready once the spaces were listed: before, every host would be unknown.
    if futures::FutureExt::now_or_never(s.spaces.wait_until_ready()).is_some() {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "listing the spaces")
    }
}

async fn scrape(State(s): State<Arc<Shared>>) -> Response {
    match s.metrics.encode() {
        Ok(body) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The request's host, lowercase, without its port.
fn host_of(headers: &HeaderMap) -> Option<String> {
    let h = headers.get(header::HOST)?.to_str().ok()?;
    let h = h.rsplit_once(':').filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit())).map_or(h, |(host, _)| host);
    Some(h.trim_end_matches('.').to_ascii_lowercase())
}

/// Where a space stands for the wake component: serving (awake and ready, or not a sleeping
/// space any more), or not.
fn serving(space: &AssociationSpace) -> bool {
    let sleep = space.status.as_ref().and_then(|s| s.sleep.as_ref()).and_then(|z| z.state);
    matches!(sleep, None | Some(SleepState::Awake))
}

fn plain(status: StatusCode, retry: Option<u32>, body: &'static str) -> Response {
    let mut r = (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], body).into_response();
    if let Some(retry) = retry.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
        r.headers_mut().insert(header::RETRY_AFTER, retry);
    }
    r
}

async fn handle(State(s): State<Arc<Shared>>, request: Request) -> Response {
    let started = Instant::now();
    let Some(host) = host_of(request.headers()) else { return plain(StatusCode::BAD_REQUEST, None, "no Host header\n") };
    let Some(space) = HostIndex::space_at(&s.hosts, &s.spaces, *s.changes.borrow(), &host) else {
        s.metrics.request("unknown_host");
        return plain(StatusCode::NOT_FOUND, None, "no space is served at this host\n");
    };
    let headers = request.headers();
    let text = |h: header::HeaderName| headers.get(h).and_then(|v| v.to_str().ok());
    let facts = RequestFacts {
        method: request.method().as_str(),
        path: request.uri().path(),
        user_agent: text(header::USER_AGENT),
        accept: text(header::ACCEPT),
        credentials: headers.contains_key(header::AUTHORIZATION) || headers.contains_key(header::COOKIE),
    };
    let kind = treatment(&facts);
    match kind {
        Treatment::Robots => {
            s.metrics.request("robots");
            return ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], classify::ROBOTS).into_response();
        }
        Treatment::Ignore => {
            s.metrics.request("ignored");
            return plain(StatusCode::SERVICE_UNAVAILABLE, Some(3600), "this space is asleep; this request does not wake it\n");
        }
        Treatment::Page | Treatment::Hold => {}
    }
    if !serving(&space) {
        ask_to_wake(&s, &space).await;
    }
    if kind == Treatment::Page {
        s.metrics.request("page");
        let mut r = (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")],
            classify::waking_page(&host, s.config.retry_seconds),
        )
            .into_response();
        if let Ok(v) = HeaderValue::from_str(&s.config.retry_seconds.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    // Held until the space serves, or the hold runs out: looked at again at each change the
    // watch brings (subscribed before the first look, so no change is missed between the two).
    let name = space.name_any();
    let deadline = tokio::time::Instant::from_std(started + s.config.hold);
    let mut changes = s.changes.subscribe();
    let ready = loop {
        match s.spaces.get(&reflector::ObjectRef::new(&name)) {
            Some(sp) if serving(&sp) => break Some(sp),
            None => break None,
            Some(_) => {}
        }
        if !matches!(tokio::time::timeout_at(deadline, changes.changed()).await, Ok(Ok(()))) {
            break None;
        }
    };
    let Some(space) = ready else {
        s.metrics.request("timed_out");
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            Some(s.config.retry_seconds),
            "this space is still waking; try again in a few seconds\n",
        );
    };
    s.metrics.held(started.elapsed().as_secs_f64());
    match forward(&s, &space, &host, request).await {
        Ok(r) => {
            s.metrics.request("served");
            r
        }
        Err(e) => {
            warn!(space = %name, error = %e, "the space did not answer a held request");
            s.metrics.request("upstream_error");
            plain(StatusCode::BAD_GATEWAY, Some(s.config.retry_seconds), "the space did not answer\n")
        }
    }
}

/// Asks the operator to wake the space, once per sleep and replica: the annotation holds the
/// request's time, which the operator compares with when the space fell asleep.
async fn ask_to_wake(s: &Shared, space: &AssociationSpace) {
    let name = space.name_any();
    let since = space.status.as_ref().and_then(|st| st.sleep.as_ref()).map(|z| z.since.clone()).unwrap_or_default();
    let already = space.annotations().get(WAKE_REQUEST_ANNOTATION).is_some_and(|v| *v >= since);
    let asked = s.asked.lock().ok().is_some_and(|a| a.get(&name) == Some(&since));
    if already || asked {
        return;
    }
    let now = crate::api::conditions::now_rfc3339();
    let patch = serde_json::json!({ "metadata": { "annotations": { WAKE_REQUEST_ANNOTATION: now } } });
    let api = Api::<AssociationSpace>::all(s.client.clone());
    match api.patch(&name, &PatchParams::apply(WAKE_FIELD_MANAGER), &Patch::Merge(&patch)).await {
        Ok(_) => {
            info!(space = %name, "wake requested");
            s.metrics.request("wake_requested");
            if let Ok(mut a) = s.asked.lock() {
                a.insert(name, since);
            }
        }
        Err(e) => warn!(space = %name, error = %e, "the wake request was refused"),
    }
}

/// Headers that belong to one connection, not to the request (RFC 9110 §7.6.1).
const HOP_BY_HOP: &[&str] = &["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"];

/// The held request, passed to the space's Service as it came (method, path, headers, body
/// streamed), and its answer streamed back.
async fn forward(s: &Shared, space: &AssociationSpace, host: &str, request: Request) -> Result<Response, reqwest::Error> {
    let namespace = space.status.as_ref().and_then(|st| st.namespace.clone()).unwrap_or_default();
    let (parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let url = format!("{}{path}", s.config.upstream.replace("{namespace}", &namespace).trim_end_matches('/'));
    let mut out = s.http.request(parts.method.clone(), url);
    for (name, value) in &parts.headers {
        if !HOP_BY_HOP.contains(&name.as_str()) && name != header::HOST {
            out = out.header(name, value);
        }
    }
    // A request without a body (no length, not chunked) is sent without one, as it came.
    if parts.headers.contains_key(header::CONTENT_LENGTH) || parts.headers.contains_key(header::TRANSFER_ENCODING) {
        out = out.body(reqwest::Body::wrap_stream(body.into_data_stream()));
    }
    let answer = out.header(header::HOST, host).send().await?;
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            response = response.header(name, value);
        }
    }
    Ok(response.body(Body::from_stream(answer.bytes_stream())).unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response()))
}
