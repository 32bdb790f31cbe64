//! framaspace-operator: Framaspace Nextcloud spaces as Kubernetes custom resources.

pub mod api;
pub mod controller;
pub mod error;
pub mod gate;
pub mod manifests;
pub mod placement;
pub mod provision;
pub mod render;
pub mod telemetry;
