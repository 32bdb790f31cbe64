//! `StoragePool`: an S3 object store spaces are placed on.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::pool::{AdminSecretRef, PoolCapacity, PoolStatus};

/// An S3 object store on which each space gets a bucket, a key allowed on that bucket only, and a
/// hard quota equal to the space's quota.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "frama.space",
    version = "v1alpha1",
    kind = "StoragePool",
    plural = "storagepools",
    singular = "storagepool",
    shortname = "stpool",
    category = "framaspace",
    status = "PoolStatus",
    derive = "PartialEq",
    doc = "An S3 object store that holds the files of Framaspace spaces.",
    printcolumn(name = "Provider", type_ = "string", json_path = ".spec.provider"),
    printcolumn(name = "Purpose", type_ = "string", json_path = ".spec.purpose"),
    printcolumn(name = "Endpoint", type_ = "string", json_path = ".spec.endpoint"),
    printcolumn(name = "Assigned", type_ = "integer", json_path = ".status.assignedSpaces"),
    printcolumn(name = "Free", type_ = "integer", json_path = ".status.freeCapacity"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct StoragePoolSpec {
    /// Server software, which decides the admin API used: `minio` or `garage`.
    pub provider: StorageProvider,
    /// S3 endpoint URL the spaces use (e.g. `https://s3.frama.space`).
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^https?://[^/\s]+/?$"))]
    pub endpoint: String,
    /// Admin API URL when it differs from `endpoint` (Garage serves it on its own port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^https?://[^/\s]+/?$"))]
    pub admin_endpoint: Option<String>,
    /// S3 region name.
    #[serde(default = "default_region")]
    #[schemars(length(min = 1, max = 63))]
    pub region: String,
    /// Secret with the admin credentials: `accessKey` and `secretKey` for MinIO, `token` for Garage.
    pub admin_secret_ref: AdminSecretRef,
    /// Prefix of the bucket names (`<prefix><space>`), so several platforms can share a store.
    #[serde(default = "default_bucket_prefix")]
    #[schemars(length(max = 20), regex(pattern = r"^[a-z0-9-]*$"))]
    pub bucket_prefix: String,
    /// How many spaces the pool takes.
    pub capacity: PoolCapacity,
    /// Free text for operators: how the store replicates (sites, erasure coding, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1000))]
    pub replication_notes: Option<String>,
    /// How often each space's bucket is measured against its quota (default 600 s). A MinIO
    /// bucket is listed, one request per 1000 objects; a Garage bucket costs one admin call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10, max = 86400))]
    pub usage_check_seconds: Option<i32>,
    /// Most admin operations run at once against this store (default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 64))]
    pub max_concurrent_operations: Option<i32>,
    /// What the store is for: `Spaces` (default: spaces are placed on it) or `Backups` (classes
    /// name it in `spec.backup.storagePool`; no space is ever placed on it).
    #[serde(default)]
    pub purpose: StoragePurpose,
}

/// What a StoragePool is for.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum StoragePurpose {
    #[default]
    Spaces,
    Backups,
}

impl StoragePoolSpec {
    /// The system's name in metrics and traces.
    pub fn provider_system(&self) -> &'static str {
        match self.provider {
            StorageProvider::Minio => "minio",
            StorageProvider::Garage => "garage",
        }
    }

    pub fn usage_check(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.usage_check_seconds.and_then(|s| u64::try_from(s).ok()).unwrap_or(600).max(10))
    }
}

fn default_region() -> String {
    "us-east-1".to_string()
}

fn default_bucket_prefix() -> String {
    "space-".to_string()
}

/// S3 server software with a supported admin API.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StorageProvider {
    Minio,
    Garage,
}
