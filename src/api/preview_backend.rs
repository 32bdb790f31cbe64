//! `PreviewBackend`: an Imaginary thumbnail service pool.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::backend::{BackendPods, BackendScaling, BackendStatus};

/// An Imaginary server pool computing thumbnails for Framaspace spaces, deployed on preview nodes
/// and scaled with the spaces assigned to it.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "frama.space",
    version = "v1alpha1",
    kind = "PreviewBackend",
    plural = "previewbackends",
    singular = "previewbackend",
    shortname = "preview",
    category = "framaspace",
    status = "BackendStatus",
    derive = "PartialEq",
    doc = "An Imaginary thumbnail server pool shared by Framaspace spaces.",
    printcolumn(name = "Assigned", type_ = "integer", json_path = ".status.assignedSpaces"),
    printcolumn(name = "Desired", type_ = "integer", json_path = ".status.desiredReplicas"),
    printcolumn(name = "Ready-Replicas", type_ = "integer", json_path = ".status.readyReplicas"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct PreviewBackendSpec {
    /// Container image with tag; a pinned default when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub image: Option<String>,
    /// Replicas from the number of spaces assigned.
    pub scaling: BackendScaling,
    /// Resources and node placement of the pods.
    #[serde(default)]
    pub pods: BackendPods,
}
