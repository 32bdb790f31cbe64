//! Logging (human-readable by default, JSON lines on request), traces over OTLP when configured,
//! metrics and the probe endpoints.

pub mod heap_profile;
pub mod metrics;
pub mod process;
pub mod server;

use std::io::IsTerminal;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::{EnvFilter, Layer, fmt, prelude::*};

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Keeps the trace exporter alive; dropping it flushes the spans not yet sent.
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.traces.take()
            && let Err(e) = provider.shutdown()
        {
            eprintln!("warning: the last traces could not be exported: {e}");
        }
    }
}

/// The standard variable of OpenTelemetry SDKs; its presence turns the export on.
const OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// Installs the global subscriber. Must run before the async runtime starts: the OTLP exporter's
/// blocking HTTP client may not be built inside it.
pub fn init(format: LogFormat) -> Telemetry {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,kube=warn,tower=warn,hyper=warn"));
    let logs = match format {
        LogFormat::Text => fmt::layer().with_target(false).with_ansi(std::io::stdout().is_terminal()).boxed(),
        LogFormat::Json => fmt::layer().json().flatten_event(true).with_current_span(true).boxed(),
    };
    let (traces, trace_error) = match std::env::var_os(OTLP_ENDPOINT) {
        Some(_) => match otlp_provider() {
            Ok(provider) => (Some(provider), None),
            Err(e) => (None, Some(e)),
        },
        None => (None, None),
    };
    let trace_layer = traces.as_ref().map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("framaspace-operator")));
    tracing_subscriber::registry().with(filter).with(logs).with(trace_layer).init();
    match (&traces, trace_error) {
        (Some(_), _) => tracing::info!("exporting traces over OTLP/HTTP"),
        (None, Some(e)) => tracing::warn!(error = %e, "traces are not exported: the OTLP exporter could not be built"),
        (None, None) => {}
    }
    Telemetry { traces }
}

/// OTLP over HTTP/protobuf; endpoint, headers and timeout come from the standard `OTEL_EXPORTER_OTLP_*` variables.
fn otlp_provider() -> Result<SdkTracerProvider, opentelemetry_otlp::ExporterBuildError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder().with_http().build()?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name("framaspace-operator")
        .with_attribute(opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    Ok(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build())
}
