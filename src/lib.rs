//! framaspace-operator: Framaspace Nextcloud spaces as Kubernetes custom resources.

pub mod adopt;
pub mod api;
#[cfg(feature = "bench")]
pub mod bench_png;
pub mod controller;
pub mod error;
pub mod gate;
pub mod manifests;
pub mod placement;
pub mod provision;
pub mod render;
pub mod rollout;
pub mod telemetry;
pub mod wake;
