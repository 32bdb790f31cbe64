//! `CachePool`: a Redis server spaces are placed on.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::pool::{AdminSecretRef, PoolCapacity, PoolStatus};

/// A Redis server on which each space gets an ACL user limited to its own key prefix.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "frama.space",
    version = "v1alpha1",
    kind = "CachePool",
    plural = "cachepools",
    singular = "cachepool",
    shortname = "cachepool",
    category = "framaspace",
    status = "PoolStatus",
    derive = "PartialEq",
    doc = "A Redis server that holds the cache and file locks of Framaspace spaces.",
    printcolumn(name = "Host", type_ = "string", json_path = ".spec.host"),
    printcolumn(name = "Assigned", type_ = "integer", json_path = ".status.assignedSpaces"),
    printcolumn(name = "Free", type_ = "integer", json_path = ".status.freeCapacity"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct CachePoolSpec {
    /// Host of the Redis server.
    #[schemars(length(min = 1, max = 253))]
    pub host: String,
    /// Port of the Redis server.
    #[serde(default = "default_redis_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// Connect with TLS.
    #[serde(default)]
    pub tls: bool,
    /// Secret with keys `username` and `password` of an ACL user allowed to run `ACL` commands.
    pub admin_secret_ref: AdminSecretRef,
    /// How many spaces the pool takes.
    pub capacity: PoolCapacity,
    /// Most admin operations run at once against this server (default 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 64))]
    pub max_concurrent_operations: Option<i32>,
}

fn default_redis_port() -> i32 {
    6379
}
